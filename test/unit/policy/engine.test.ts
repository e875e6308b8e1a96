import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { definePolicy } from '../../../src/policy/api.js';
import { plan } from '../../../src/policy/engine.js';
import { defaultPolicies, loadPolicies } from '../../../src/policy/loader.js';
import { admit } from '../../../src/policy/scheduling.js';
import { host, state, vm } from './fixtures.js';

const config = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 3 });
/** Hot-spot relief alone (the tests of its hysteresis and in-flight accounting): no spread moves. */
const hotOnly = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 3, spread: { enabled: false } });

describe('planning engine', () => {
  it('moves load off a hot host to the coolest host and lowers the imbalance', async () => {
    const s = state([host('a'), host('b'), host('c')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1.0), vm('v4', 'a', 0.9), vm('v5', 'b', 0.5)]);
    const p = await plan(s, { config });
    expect(p.moves.length).toBeGreaterThan(0);
    expect(p.moves.every((m) => m.from === 'a')).toBe(true);
    expect(p.moves[0].to).toBe('c');
    expect(p.imbalanceAfter).toBeLessThan(p.imbalanceBefore);
    expect(p.policyErrors).toEqual([]);
  });

  it('does nothing on a balanced cluster', async () => {
    const s = state([host('a'), host('b')], [vm('v1', 'a', 0.5), vm('v2', 'b', 0.5)]);
    expect((await plan(s, { config })).moves).toEqual([]);
  });

  it('respects cooldown, pins, in-flight jobs and maintenance hosts', async () => {
    const vms = [vm('cool', 'a', 1), vm('pinned', 'a', 1, { tags: ['pinned'] }), vm('busy', 'a', 1, { jobRunning: true }), vm('x', 'a', 0.9)];
    const s = state([host('a'), host('b', { maintenance: true }), host('c')], vms, { lastMovedAtMs: { [vms[0].uuid]: 1_000_000 - 10_000 } });
    const p = await plan(s, { config });
    const moved = p.moves.map((m) => m.vmName);
    expect(moved).not.toContain('cool');
    expect(moved).not.toContain('pinned');
    expect(moved).not.toContain('busy');
    expect(p.moves.every((m) => m.to === 'c')).toBe(true);
    expect(p.skipped.find((x) => x.vmName === 'cool')!.reason).toMatch(/cooldown/);
    expect(p.skipped.find((x) => x.vmName === 'pinned')!.reason).toMatch(/pinned/);
  });

  it('evacuates a maintenance host whatever the gain, never onto another maintenance host', async () => {
    const s = state([host('a', { maintenance: true }), host('b'), host('c', { maintenance: true })], [vm('v1', 'a', 0.1), vm('v2', 'a', 0.1)]);
    const p = await plan(s, { config });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([
      ['v1', 'b'],
      ['v2', 'b'],
    ]);
  });

  it('never overcommits memory across all planned moves', async () => {
    const GiB = 2 ** 30;
    const s = state(
      [host('a', { memoryTotalBytes: 8 * GiB }), host('b', { memoryTotalBytes: 3 * GiB })],
      [1, 2, 3, 4].map((i) => vm(`v${i}`, 'a', 1, { memoryBytes: 2 * GiB })),
    );
    const p = await plan(s, { config });
    expect(p.moves.length).toBe(1);
  });

  it('keeps anti-affinity members apart', async () => {
    const s = state(
      [host('a'), host('b'), host('c')],
      [vm('w1', 'a', 0.2, { tags: ['group:web'] }), vm('w2', 'a', 0.2, { tags: ['group:web'] }), vm('w3', 'b', 0.2, { tags: ['group:web'] })],
    );
    const p = await plan(s, { config });
    expect(p.moves).toHaveLength(1);
    expect(p.moves[0].to).toBe('c');
  });

  it('reports a policy that throws, times out or returns garbage, and makes no move that depends on it', async () => {
    const s = state([host('a'), host('b')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)]);
    const base = defaultPolicies(config);
    const throwing = definePolicy({
      name: 'thrower',
      filter: () => {
        throw new Error('boom');
      },
    });
    const slow = definePolicy({ name: 'sleeper', score: () => new Promise<number>((r) => setTimeout(() => r(1), 500)) });
    const garbage = definePolicy({ name: 'garbage', score: () => Number.NaN });
    for (const bad of [throwing, slow, garbage]) {
      const p = await plan(s, { config: { ...config, policyTimeoutMs: 100 }, policies: [...base, { policy: bad, weight: 1, options: {}, source: 'test' }] });
      expect(p.moves).toEqual([]);
      expect(p.policyErrors[0].policy).toBe(bad.name);
      expect(p.policyErrors[0].vm).toMatch(/^v/);
      expect(p.policyErrors[0].host).toBe('b');
    }
  });

  it('counts migrations under way as done: no second move off a host they already relieve, none onto a host they fill', async () => {
    const vms = [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1), vm('v5', 'b', 0.5)];
    const moving = { vmUuid: vms[0].uuid, vmName: 'v1', from: 'a', to: 'c', startedAtMs: 1_000_000 - 5_000 };
    // a at 100 % with v1 on its way to c: a will be at 75 %, under the 80 % threshold.
    const relieved = await plan(state([host('a'), host('b'), host('c')], vms, { inFlight: [moving] }), { config: hotOnly });
    expect(relieved.moves).toEqual([]);
    // The same cluster with a hotter a: the next move goes to b, since c is receiving v1.
    const hotter = [...vms, vm('v6', 'a', 1)];
    const next = await plan(state([host('a'), host('b'), host('c')], hotter, { inFlight: [moving] }), { config: { ...hotOnly, maxMovesPerTick: 1 } });
    expect(next.moves.map((m) => [m.from, m.to])).toEqual([['a', 'b']]);
    // vCPUs reserved on the target: c (idle, the best target by load) has room for one vCPU, and the
    // light v1 on its way there takes it, so the move goes to b.
    const light = [vm('v1', 'a', 0.1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1), vm('v5', 'b', 0.8)];
    const tight = await plan(
      state([host('a'), host('b', { cpuOvercommitRatio: 0.5 }), host('c', { cpuOvercommitRatio: 0.25 })], light, { inFlight: [moving] }),
      { config: { ...hotOnly, cpuHighPercent: 70 } },
    );
    expect(tight.moves.map((m) => [m.from, m.to])).toEqual([['a', 'b']]);
  });

  it('never puts an anti-affinity member on the host another member is migrating to', async () => {
    const vms = [vm('w1', 'a', 0.2, { tags: ['group:web'] }), vm('w2', 'a', 0.2, { tags: ['group:web'] }), vm('x', 'b', 0.1)];
    const s = state([host('a'), host('b'), host('c')], vms, { inFlight: [{ vmUuid: vms[0].uuid, vmName: 'w1', from: 'a', to: 'c', startedAtMs: 1_000_000 }] });
    const p = await plan(s, { config });
    // w1 leaving a already separates the pair: w2 stays (and could never go to c, where w1 arrives).
    expect(p.moves).toEqual([]);
    const both = await plan(state(s.hosts, [...vms, vm('w3', 'a', 0.2, { tags: ['group:web'] })], { inFlight: s.inFlight }), { config });
    expect(both.moves.map((m) => m.to)).toEqual(['b']);
  });

  it('relieves a hot host until it is hysteresisPercent below the threshold, not just under it', async () => {
    // a at 86 % of 10 CPUs: one move (8.6 %) leaves 77.4 %, under 80 % but not under 80 - 5.
    const hosts = [host('a', { cpuCount: 10 }), host('b', { cpuCount: 10 }), host('c', { cpuCount: 10 })];
    const s = state(
      hosts,
      Array.from({ length: 10 }, (_, i) => vm(`v${i}`, 'a', 0.86)),
    );
    const withHysteresis = await plan(s, { config: { ...hotOnly, hysteresisPercent: 5 } });
    expect(withHysteresis.moves.map((m) => m.from)).toEqual(['a', 'a']);
    expect(withHysteresis.skipped.every((x) => /no longer above the thresholds/.test(x.reason))).toBe(true);
    const without = await plan(s, { config: { ...hotOnly, hysteresisPercent: 0 } });
    expect(without.moves.map((m) => m.from)).toEqual(['a']);
    // A host between the threshold less hysteresis and the threshold is not hot to begin with.
    const warm = state(
      hosts,
      Array.from({ length: 10 }, (_, i) => vm(`v${i}`, 'a', 0.78)),
    );
    expect((await plan(warm, { config: { ...hotOnly, hysteresisPercent: 5 } })).moves).toEqual([]);
  });

  it('names an unknown policy in config and lists the available ones', async () => {
    await expect(loadPolicies(policySchema.parse({ policies: [{ name: 'balanse' }] }))).rejects.toThrow(/no policy named "balanse"; available: balance/);
  });

  it('loads the example policy from a policy directory and applies its filter', async () => {
    const cfg = policySchema.parse({
      policyDirs: ['policies/examples'],
      policies: [{ name: 'balance' }, { name: 'keep-off-label', options: { label: 'gpu' } }],
    });
    const loaded = await loadPolicies(cfg);
    expect(loaded.map((l) => l.policy.name)).toEqual(['balance', 'keep-off-label']);
    const s = state(
      [host('a'), host('b', { labels: { gpu: 'true' } }), host('c')],
      [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1), vm('v5', 'c', 0.8)],
    );
    const p = await plan(s, { config: cfg, policies: loaded });
    expect(p.moves.every((m) => m.to !== 'b')).toBe(true);
    expect(p.skipped.some((x) => /keep-off-label/.test(x.reason)) || p.moves.length > 0).toBe(true);
  });
});

describe('cpu-compat core filter', () => {
  it('lets a VM go only to hosts with every CPU feature of its source', async () => {
    const flags = ['sse4_2', 'avx', 'avx2'];
    const s = state(
      [
        host('a', { cpuModel: 'Skylake', cpuFeatures: flags }),
        host('old', { cpuModel: 'Nehalem', cpuFeatures: ['sse4_2'] }),
        host('same', { cpuModel: 'Skylake', cpuFeatures: flags }),
      ],
      [vm('v1', 'a', 1, { cpuModel: 'qemu64' }), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)],
    );
    const p = await plan(s, { config });
    expect(p.moves.length).toBeGreaterThan(0);
    expect(p.moves.every((m) => m.to === 'same')).toBe(true);
    const onlyOld = state([s.hosts[0], s.hosts[1]], s.vms);
    const q = await plan(onlyOld, { config });
    expect(q.moves).toEqual([]);
    expect(q.skipped[0].reason).toMatch(
      /old \(Nehalem\) lacks 2 of the 3 CPU features v\d's (CPU of a|CPU model qemu64 \(its features as on a\)) needs: avx, avx2/,
    );
  });
});

describe('engine and chooser together', () => {
  it('never plans plain pre-copy for a VM dirtying memory faster than the bandwidth', async () => {
    const s = state([host('a'), host('b')], [vm('fast', 'a', 1, { dirtyRateMiBps: 1500 }), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)]);
    const p = await plan(s, { config: { ...config, bandwidthMiBps: 1000 } });
    const fast = p.moves.find((m) => m.vmName === 'fast');
    if (fast) expect(fast.technique).not.toBe('precopy');
    const onlyPrecopy = await plan(s, { config: { ...config, bandwidthMiBps: 1000, allowedTechniques: ['precopy'] } });
    expect(onlyPrecopy.moves.find((m) => m.vmName === 'fast')).toBeUndefined();
    expect(onlyPrecopy.skipped.find((x) => x.vmName === 'fast')?.reason ?? 'not a candidate').toMatch(/converges|not a candidate|no longer above/);
  });
});

describe('consolidation policy', () => {
  it('empties the lightest host onto the busiest that stays under the threshold', async () => {
    const cfg = policySchema.parse({ policies: [{ name: 'consolidation' }, { name: 'capacity' }] });
    const s = state([host('a'), host('b'), host('c')], [vm('a1', 'a', 0.9), vm('a2', 'a', 0.9), vm('b1', 'b', 0.5), vm('c1', 'c', 0.1), vm('c2', 'c', 0.1)]);
    const p = await plan(s, { config: cfg, policies: await loadPolicies(cfg) });
    expect(p.moves.map((m) => m.from)).toEqual(['c', 'c']);
    expect(p.moves.every((m) => m.to === 'a')).toBe(true);
  });
});

describe('after a failed move', () => {
  const hot = () => state([host('a'), host('b'), host('c')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)]);
  const retryConfig = policySchema.parse({ cooldownSeconds: 0, maxMovesPerTick: 1, retryAfterFailureSeconds: 900 });

  it('does not send the same VM to the same host again within the retry delay, but may try another host', async () => {
    const first = await plan(hot(), { config: retryConfig });
    const move = first.moves[0];
    expect(move).toBeDefined();
    const failedAtMs = 1_000_000 - 60_000;
    const failure = { vmUuid: move.vmUuid, from: move.from, to: move.to, atMs: failedAtMs, outcome: 'aborted', error: 'aborted: 300 s deadline' };
    const again = await plan({ ...hot(), recentFailures: [failure] }, { config: retryConfig });
    const sameVm = again.moves.find((m) => m.vmUuid === move.vmUuid);
    expect(sameVm?.to).not.toBe(move.to);
    expect(again.moves.some((m) => m.vmUuid === move.vmUuid && m.to === move.to)).toBe(false);
    // After the delay the pair may be tried again.
    const later = await plan({ ...hot(), recentFailures: [{ ...failure, atMs: 1_000_000 - 901_000 }] }, { config: retryConfig });
    expect(later.moves[0]).toMatchObject({ vmUuid: move.vmUuid, to: move.to });
  });
});

describe('a shut-off VM with local disks', () => {
  it('is not moved cold, and plan says why in its own words', async () => {
    const config = policySchema.parse({ cooldownSeconds: 0 });
    const vms = [vm('off', 'a', 0, { state: 'shutoff', disksShared: false, localDiskBytes: 10 * 2 ** 30 })];
    const p = await plan(state([host('a', { maintenance: true }), host('b')], vms), { config });
    expect(p.moves.find((m) => m.vmName === 'off')).toBeUndefined();
    expect(p.skipped.find((x) => x.vmName === 'off')?.reason).toMatch(/shut off and has local disks/);
  });
});

describe('moves that would wait for a budget (issue 25)', () => {
  it('a move its source cannot start now (its sending budget taken) leaves the maxMovesPerTick slot to a hot spot that can', async () => {
    // a is hot with one migration already leaving it (a -> d: a's sending budget of 1 is taken),
    // and still hot once that one lands; x is hot too and sends nothing. One move per tick.
    const vms = [
      vm('a0', 'a', 1),
      vm('a1', 'a', 1),
      vm('a2', 'a', 1),
      vm('a3', 'a', 1),
      vm('a4', 'a', 1),
      vm('x1', 'x', 0.95),
      vm('x2', 'x', 0.95),
      vm('x3', 'x', 0.95),
      vm('x4', 'x', 0.95),
    ];
    const leaving = { vmUuid: vms[0].uuid, vmName: 'a0', from: 'a', to: 'd', startedAtMs: 1_000_000 - 5_000 };
    const s = state([host('a'), host('x'), host('b'), host('c'), host('d')], vms, { inFlight: [leaving] });
    const options = { config: { ...hotOnly, maxMovesPerTick: 1 }, admission: migrationSchema.parse({}) };
    const p = await plan(s, options);
    // The slot goes to x's relief, which starts now; a's would only have waited in the queue.
    expect(p.moves.map((m) => m.from)).toEqual(['x']);
    expect(admit(p.moves, [], s, migrationSchema.parse({})).admitted.map((m) => m.from)).toEqual(['x']);
    expect(p.skipped.some((k) => k.vmName.startsWith('a') && /max moves per tick \(1\) reached/.test(k.reason))).toBe(true);
    // With two slots, a's move is planned too, after x's, and waits for a's sending budget.
    const two = await plan(s, { ...options, config: { ...hotOnly, maxMovesPerTick: 2 } });
    expect(two.moves.map((m) => m.from)).toEqual(['x', 'a']);
    const { admitted, rejected } = admit(two.moves, [], s, migrationSchema.parse({}));
    expect(admitted.map((m) => m.from)).toEqual(['x']);
    expect(rejected.map((r) => [r.move.from, r.waits])).toEqual([['a', true]]);
  });
});
