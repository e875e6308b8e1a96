import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { admit } from '../../../src/executor/admission.js';
import { migrationUriFor, recipeFor } from '../../../src/executor/technique-params.js';
import { MigrateFlags } from '../../../src/libvirt/index.js';
import type { Move } from '../../../src/policy/plan-types.js';
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
