import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { admit } from '../../../src/policy/scheduling.js';
import { migrationUriFor, postcopyRefusal, recipeFor } from '../../../src/executor/technique-params.js';
import { stillOnSourceWording } from '../../../src/executor/vm-on-host.js';
import { DomainState, MigrateFlags } from '../../../src/libvirt/index.js';
import { PRECOPY_FAMILY, type Move } from '../../../src/policy/plan-types.js';
import { host, state, vm } from '../policy/fixtures.js';

const config = migrationSchema.parse({});
const uri = 'qemu+tcp://10.0.0.7/system';
const has = (flags: number, f: number) => (flags & f) === f;

describe('technique recipes', () => {
  it('derives the migration URI from the target libvirt URI', () => {
    expect(migrationUriFor('qemu+tcp://10.0.0.7/system')).toBe('tcp://10.0.0.7');
    expect(migrationUriFor('qemu+ssh://root@host-b:2222/system')).toBe('tcp://host-b');
    expect(migrationUriFor('qemu:///system')).toBeUndefined();
  });

  it('maps each technique to libvirt flags and parameters', () => {
    const base = { config, targetLibvirtUri: uri, copyStorage: false, allowPostcopySwitch: false };
    const pre = recipeFor('precopy', base);
    expect(has(pre.flags, MigrateFlags.LIVE | MigrateFlags.PEER2PEER | MigrateFlags.PERSIST_DEST | MigrateFlags.UNDEFINE_SOURCE)).toBe(true);
    expect(has(pre.flags, MigrateFlags.POSTCOPY)).toBe(false);
    expect(pre.params).toEqual({ uri: 'tcp://10.0.0.7' });
    expect(recipeFor('autoconverge', base).params).toMatchObject({ autoConvergeInitialPercent: 20, autoConvergeIncrementPercent: 10 });
    expect(recipeFor('xbzrle', base).params).toMatchObject({ compression: ['xbzrle'], compressionXbzrleCacheBytes: 64 * 2 ** 20 });
    expect(has(recipeFor('multifd', base).flags, MigrateFlags.PARALLEL)).toBe(true);
    expect(recipeFor('postcopy', base).postcopy).toEqual({ mode: 'immediately' });
    expect(recipeFor('hybrid', base).postcopy).toEqual({ mode: 'afterIterations', iterations: 1 });
    const cold = recipeFor('cold', base);
    expect(has(cold.flags, MigrateFlags.OFFLINE)).toBe(true);
    expect(has(cold.flags, MigrateFlags.LIVE)).toBe(false);
    expect(has(recipeFor('precopy', { ...base, copyStorage: true }).flags, MigrateFlags.NON_SHARED_DISK)).toBe(true);
  });

  it('lets pre-copy fall back to post-copy only when allowed, never multifd', () => {
    const allow = { config, targetLibvirtUri: uri, copyStorage: false, allowPostcopySwitch: true };
    expect(recipeFor('precopy', allow).postcopy).toEqual({ mode: 'whenStuck' });
    expect(has(recipeFor('precopy', allow).flags, MigrateFlags.POSTCOPY)).toBe(true);
    expect(recipeFor('multifd', allow).postcopy).toEqual({ mode: 'never' });
  });
});

describe('a paused VM never asks libvirt for post-copy (libvirt 11.3 refuses VIR_MIGRATE_POSTCOPY for it)', () => {
  // The defaults a fresh user runs with: every technique allowed, so pre-copy falls back to post-copy when stuck.
  const allow = { config, targetLibvirtUri: uri, copyStorage: false, allowPostcopySwitch: true };

  it("VIR_MIGRATE_POSTCOPY is libvirt's 1 << 15 (libvirt-domain.h)", () => {
    expect(MigrateFlags.POSTCOPY).toBe(32768);
  });

  it('a running VM keeps the post-copy fallback: flags 36891, as in the report', () => {
    expect(recipeFor('precopy', { ...allow, sourceState: DomainState.RUNNING }).flags).toBe(36891);
    expect(recipeFor('precopy', { ...allow, sourceState: DomainState.BLOCKED }).postcopy).toEqual({ mode: 'whenStuck' });
  });

  it('a paused VM moves by pre-copy with flags 4123: LIVE|PEER2PEER|PERSIST_DEST|UNDEFINE_SOURCE|ABORT_ON_ERROR, no post-copy', () => {
    const pre = recipeFor('precopy', { ...allow, sourceState: DomainState.PAUSED });
    expect(pre.flags).toBe(4123);
    expect(pre.postcopy).toEqual({ mode: 'never' });
    expect(pre.params.bandwidthPostcopyMiBps).toBeUndefined();
  });

  it.each(PRECOPY_FAMILY)('%s of a paused VM has no VIR_MIGRATE_POSTCOPY bit and no switch planned', (technique) => {
    const r = recipeFor(technique, { ...allow, sourceState: DomainState.PAUSED });
    expect(r.flags & MigrateFlags.POSTCOPY).toBe(0);
    expect(r.flags & MigrateFlags.LIVE).toBe(MigrateFlags.LIVE);
    expect(r.postcopy.mode).toBe('never');
  });

  it('post-copy and hybrid of a VM that is not running are refused with its state, and recipeFor throws rather than send them', () => {
    expect(postcopyRefusal('postcopy', 'v3', DomainState.PAUSED)).toBe(
      'VM v3 is paused: it moves only by a pre-copy-family technique (precopy, xbzrle, autoconverge, multifd), not postcopy; the move was not started',
    );
    expect(postcopyRefusal('hybrid', 'v3', DomainState.PAUSED)).toMatch(/^VM v3 is paused: .*not hybrid;/);
    expect(postcopyRefusal('hybrid', 'v3', DomainState.RUNNING)).toBeUndefined();
    expect(postcopyRefusal('precopy', 'v3', DomainState.PAUSED)).toBeUndefined();
    expect(() => recipeFor('postcopy', { ...allow, sourceState: DomainState.PAUSED })).toThrow(
      'no postcopy recipe for a VM that is not running (state paused): refuse the move first',
    );
    expect(() => recipeFor('hybrid', { ...allow, sourceState: DomainState.SHUTOFF })).toThrow(/no hybrid recipe .*\(state shutoff\)/);
  });

  it("a failed move's log line names the VM's real state on the source", () => {
    expect(stillOnSourceWording(false, DomainState.PAUSED)).toBe('migration failed; VM still paused on the source');
    expect(stillOnSourceWording(true, DomainState.RUNNING)).toBe('migration aborted; VM still running on the source');
    expect(stillOnSourceWording(false, DomainState.SHUTOFF)).toBe('migration failed; VM still shut off on the source');
  });
});

describe('admission', () => {
  const s = state([host('a'), host('b'), host('c'), host('d', { up: false })], [vm('1', 'a', 0.5), vm('2', 'a', 0.5), vm('3', 'b', 0.5), vm('4', 'b', 0.5)]);
  const move = (v: string, from: string, to: string): Move => {
    const o = s.vms.find((x) => x.name === v)!;
    return {
      vmName: v,
      vmUuid: o.uuid,
      from,
      to,
      technique: 'precopy',
      copyStorage: false,
      predicted: { totalSeconds: 1, downtimeMs: 1, bytes: 1, converges: true },
      reason: '',
      gain: 0.1,
      inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
    };
  };
  it('enforces per-source, per-target and cluster-wide limits', () => {
    const r = admit([move('1', 'a', 'c'), move('2', 'a', 'c'), move('3', 'b', 'c')], [], s, config);
    expect(r.admitted.map((m) => m.vmName)).toEqual(['1']);
    expect(r.rejected.map((x) => x.reason)).toEqual([expect.stringMatching(/maxPerSourceHost/), expect.stringMatching(/maxPerTargetHost/)]);
  });
  it("rejects moves to a down host and a second job for one VM; cooldown is the planner's rule, not admission's", () => {
    const running = [{ vmUuid: s.vms[0].uuid, from: 'a', to: 'c', bandwidthMiBps: 0 }];
    // VM 4 moved 10 s ago: the engine skips it for its cooldown (engine.test.ts); a move handed to
    // admission anyway (an operator's `migrate`) is not refused for it here.
    const moved = { ...s, lastMovedAtMs: { [s.vms[3].uuid]: s.observedAtMs - 10_000 } };
    const r = admit(
      [move('3', 'b', 'd'), move('1', 'a', 'b'), move('4', 'b', 'c')],
      running,
      moved,
      migrationSchema.parse({ maxConcurrent: 5, maxPerTargetHost: 5 }),
    );
    expect(r.admitted.map((m) => m.vmName)).toEqual(['4']);
    expect(r.rejected.map((x) => x.reason)).toEqual([expect.stringMatching(/down/), expect.stringMatching(/already running/)]);
  });
  it('keeps the bandwidth budget', () => {
    const r = admit(
      [move('1', 'a', 'c'), move('3', 'b', 'd'.replace('d', 'a'))],
      [],
      s,
      migrationSchema.parse({ bandwidthBudgetMiBps: 150, maxConcurrent: 5 }),
    );
    expect(r.admitted).toHaveLength(1);
    expect(r.rejected[0].reason).toMatch(/bandwidth budget/);
  });
});
