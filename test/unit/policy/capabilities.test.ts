import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { recipeFor } from '../../../src/executor/technique-params.js';
import { MigrateFlags } from '../../../src/libvirt/index.js';
import { featureMissing, formatVersion, pairFeatures, techniquesFor } from '../../../src/policy/capabilities.js';

const libvirt11 = { libvirtVersion: 11_003_000, hypervisorVersion: 10_000_002 };
const libvirt9 = { libvirtVersion: 9_000_000, hypervisorVersion: 7_002_000 };
const libvirt5 = { libvirtVersion: 5_000_000, hypervisorVersion: 3_001_000 };

describe('migration features by daemon version', () => {
  it('formats libvirt version numbers', () => {
    expect(formatVersion(11_003_000)).toBe('11.3.0');
  });
  it('gives libvirt 11.3 / QEMU 10.0 everything but post-copy recovery (which crashes its destination daemon), 9.0 / 7.2 no zstd multifd and no preempt', () => {
    expect([...pairFeatures(libvirt11, libvirt11)].sort()).toEqual([
      'migrationTls',
      'multifd',
      'multifdZstd',
      'postcopy',
      'postcopyBandwidth',
      'postcopyPreempt',
      'zeroCopy',
    ]);
    expect(featureMissing('postcopyResume', libvirt11)).toMatch(/^libvirt 11\.3\.0: post-copy recovery crashes the destination libvirtd/);
    expect(featureMissing('postcopyResume', { libvirtVersion: 11_004_000 })).toBeUndefined();
    const mixed = pairFeatures(libvirt11, libvirt9);
    expect(mixed.has('multifdZstd')).toBe(false);
    expect(mixed.has('postcopyPreempt')).toBe(false);
    expect(pairFeatures(libvirt9, libvirt9).has('postcopyResume')).toBe(true);
    expect(featureMissing('multifdZstd', libvirt9)).toBe('libvirt 9.0.0 < 9.4.0');
  });
  it('does not offer multifd where one end predates it, and says why', () => {
    const r = techniquesFor(['precopy', 'multifd', 'hybrid'], { name: 'kvm1', ...libvirt11 }, { name: 'old', ...libvirt5 });
    expect(r.usable).toEqual(['precopy', 'hybrid']);
    expect(r.unusable).toEqual([{ technique: 'multifd', reason: 'multifd: old has libvirt 5.0.0 < 5.2.0' }]);
  });
  it('takes unknown versions (the simulator) as able', () => {
    expect(techniquesFor(['multifd'], { name: 'a' }, { name: 'b' }).usable).toEqual(['multifd']);
  });
});

describe('recipes never send what the daemons lack', () => {
  const uri = 'qemu+tcp://10.0.0.7/system';
  const zstd = migrationSchema.parse({ bandwidthMiBps: 40, techniques: { multifd: { compression: 'zstd', zstdLevel: 3 } } });
  const has = (flags: number, f: number) => (flags & f) === f;
  it('asks for zstd multifd on libvirt >= 9.4 and plain multifd below', () => {
    const modern = recipeFor('multifd', {
      config: zstd,
      targetLibvirtUri: uri,
      copyStorage: false,
      allowPostcopySwitch: false,
      features: pairFeatures(libvirt11, libvirt11),
    });
    expect(has(modern.flags, MigrateFlags.PARALLEL | MigrateFlags.COMPRESSED)).toBe(true);
    expect(modern.params).toMatchObject({ compression: ['zstd'], compressionZstdLevel: 3, parallelConnections: 2, bandwidthMiBps: 20 });
    const old = recipeFor('multifd', {
      config: zstd,
      targetLibvirtUri: uri,
      copyStorage: false,
      allowPostcopySwitch: false,
      features: pairFeatures(libvirt11, libvirt9),
    });
    expect(has(old.flags, MigrateFlags.COMPRESSED)).toBe(false);
    expect(old.params.compression).toBeUndefined();
    expect(old.params.compressionZstdLevel).toBeUndefined();
  });
  it('caps post-copy at the pre-copy bandwidth unless told otherwise, where the daemon has the parameter', () => {
    const base = { targetLibvirtUri: uri, copyStorage: false, allowPostcopySwitch: true };
    expect(recipeFor('hybrid', { ...base, config: zstd }).params.bandwidthPostcopyMiBps).toBe(40);
    expect(recipeFor('precopy', { ...base, config: zstd }).params.bandwidthPostcopyMiBps).toBe(40); // may switch when stuck
    // A post-copy from the start begins at half its cap; the cap governor raises it (technique-params.ts POSTCOPY_START_FRACTION).
    const pure = recipeFor('postcopy', { ...base, config: zstd, bandwidthMiBps: 25 });
    expect(pure.params.bandwidthPostcopyMiBps).toBe(12);
    expect(pure.postcopyCapMiBps).toBe(25);
    expect(recipeFor('hybrid', { ...base, config: zstd }).postcopyCapMiBps).toBeUndefined();
    const own = migrationSchema.parse({ bandwidthMiBps: 40, techniques: { postcopy: { postcopyBandwidthMiBps: 100 } } });
    expect(recipeFor('hybrid', { ...base, config: own }).params.bandwidthPostcopyMiBps).toBe(100);
    expect(recipeFor('multifd', { ...base, config: zstd }).params.bandwidthPostcopyMiBps).toBeUndefined();
    const unlimited = migrationSchema.parse({});
    expect(recipeFor('hybrid', { ...base, config: unlimited }).params.bandwidthPostcopyMiBps).toBeUndefined();
    expect(
      recipeFor('hybrid', { ...base, config: zstd, features: pairFeatures({ libvirtVersion: 5_000_000 }, libvirt11) }).params.bandwidthPostcopyMiBps,
    ).toBeUndefined();
  });
  it('asks for zero-copy only with plain multifd on a daemon that has it', () => {
    const zc = migrationSchema.parse({ techniques: { multifd: { zeroCopy: true } } });
    const base = { targetLibvirtUri: uri, copyStorage: false, allowPostcopySwitch: false };
    expect(has(recipeFor('multifd', { ...base, config: zc, features: pairFeatures(libvirt11, libvirt11) }).flags, MigrateFlags.ZEROCOPY)).toBe(true);
    expect(
      has(recipeFor('multifd', { ...base, config: zc, features: pairFeatures(libvirt11, { libvirtVersion: 8_000_000 }) }).flags, MigrateFlags.ZEROCOPY),
    ).toBe(false);
    expect(has(recipeFor('precopy', { ...base, config: zc }).flags, MigrateFlags.ZEROCOPY)).toBe(false);
  });
});

describe('multifd compression in the cost model', () => {
  it('predicts zstd multifd faster and with fewer bytes on a slow link, bounded by what the channels compress', async () => {
    const { predictTechnique, tunablesFromMigrationConfig } = await import('../../../src/policy/chooser.js');
    const input = { memoryBytes: 4 * 2 ** 30, dirtyRateMiBps: 20, bandwidthMiBps: 100, downtimeBudgetMs: 300 };
    const plain = predictTechnique('multifd', { ...input, tunables: tunablesFromMigrationConfig(migrationSchema.parse({})) });
    const zstd = predictTechnique('multifd', {
      ...input,
      tunables: tunablesFromMigrationConfig(migrationSchema.parse({ techniques: { multifd: { compression: 'zstd' } } })),
    });
    expect(zstd.totalSeconds).toBeLessThan(plain.totalSeconds * 0.6);
    expect(zstd.bytes).toBeLessThan(plain.bytes * 0.6);
    // On a fast link compression is the bottleneck: 2 channels x 300 MiB/s, not 10 GiB/s / 0.5.
    const fast = predictTechnique('multifd', { ...input, bandwidthMiBps: 10_000, tunables: { multifdCompressionRatio: 0.5, singleStreamMiBps: 10_000 } });
    expect(fast.totalSeconds).toBeGreaterThan((4 * 1024) / 600);
  });
});
