/**
 * Failover headroom (issue 29 item 1): policy.headroom.hostFailures N keeps room to restart the VMs
 * of failed hosts on the rest; balancing, consolidation, power-off and `place` do not break it, and
 * a cluster already below it is said in the plan (and plan.headroom, which the controller exports as
 * virt_balancer_headroom_shortfall).
 */
import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../../src/cluster/model.js';
import { configSchema } from '../../../src/config/schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { headroomHostsOf, headroomShortfall } from '../../../src/policy/headroom.js';
import { judgeTargets } from '../../../src/policy/place.js';
import { choosePowerOffs, powerOffHolds } from '../../../src/power/decide.js';
import { PowerStates } from '../../../src/power/states.js';
import { host, state, vm } from './fixtures.js';

const GiB = 2 ** 30;
const headroom = (n: number, extra: Record<string, unknown> = {}) => policySchema.parse({ headroom: { hostFailures: n }, ...extra });

/** The state after a plan's moves: for checking what the plan leaves. */
function planned(s: ClusterState, moves: readonly { vmUuid: string; to: string }[]) {
  return headroomHostsOf(s, moves);
}

/**
 * h1 hot (95 % CPU) with a (4 GiB) and f (8 GiB); h2 holds c (4 GiB), h3 holds d (10 GiB); hosts of
 * 16 GiB. Only h2 can take d if h3 fails; a to h2 (the target balancing prefers: h3 would be hot in
 * memory) leaves h1 8 GiB free and h2 8 GiB free, so d would fit nowhere.
 */
function fragile() {
  return state(
    [host('h1'), host('h2'), host('h3')],
    [
      vm('a', 'h1', 0.5, { vcpus: 4, memoryBytes: 4 * GiB }),
      vm('f', 'h1', 0.45, { vcpus: 4, memoryBytes: 8 * GiB }),
      vm('c', 'h2', 0, { memoryBytes: 4 * GiB }),
      vm('d', 'h3', 0, { memoryBytes: 10 * GiB }),
    ],
  );
}

describe('headroomShortfall', () => {
  it("one host's VMs re-placed on the rest within memory limits: fits, or names the host, the VM and the room", () => {
    const four = (gib: number) =>
      state(
        ['h1', 'h2', 'h3', 'h4'].map((n) => host(n)),
        ['h1', 'h2', 'h3', 'h4'].flatMap((h) => [0, 1, 2, 3].map((i) => vm(`${h}v${i}`, h, 0, { memoryBytes: gib * GiB }))),
      );
    // 4 x 2 GiB per host: a failed host's 8 GiB go two per other host (8 GiB free each).
    expect(headroomShortfall(headroomHostsOf(four(2)), 1)).toBeUndefined();
    // 4 x 3 GiB: each other host has 4 GiB free, room for one 3 GiB VM: the fourth fits nowhere.
    expect(headroomShortfall(headroomHostsOf(four(3)), 1)).toBe(
      'if h1 failed, h1v3 (3072 MiB, 1 vCPUs) would fit on none of the 3 other host(s) (most free: 1024 MiB of guest memory) after 3 of its 4 VMs; policy.headroom.hostFailures 1 asks that they all fit',
    );
    expect(headroomShortfall(headroomHostsOf(four(3)), 0)).toBeUndefined();
  });

  it('vCPUs count too: a VM with more vCPUs than every other host has CPUs fits nowhere', () => {
    const s = state([host('big', { cpuCount: 16 }), host('small1'), host('small2')], [vm('wide', 'big', 0, { vcpus: 8 })]);
    expect(headroomShortfall(headroomHostsOf(s), 1)).toMatch(/^if big failed, wide \(1024 MiB, 8 vCPUs\) would fit on none of the 2 other host/);
  });

  it('hostFailures 2: the two hosts holding the most fail together; too few hosts is said', () => {
    const s = state(
      ['h1', 'h2', 'h3'].map((n) => host(n)),
      [vm('x', 'h1', 0, { memoryBytes: 6 * GiB }), vm('y', 'h2', 0, { memoryBytes: 6 * GiB }), vm('z', 'h3', 0, { memoryBytes: 1 * GiB })],
    );
    expect(headroomShortfall(headroomHostsOf(s), 2)).toBeUndefined();
    expect(headroomShortfall(headroomHostsOf(s), 3)).toBe(
      '3 host(s) up and out of maintenance cannot tolerate 3 host failure(s): none would be left (policy.headroom.hostFailures)',
    );
    const tight = { ...s, vms: [...s.vms, vm('w', 'h3', 0, { memoryBytes: 6 * GiB })] };
    expect(headroomShortfall(headroomHostsOf(tight), 2)).toMatch(/^if h3 and h1 failed, /);
  });
});

describe('balancing keeps the headroom', () => {
  it('without headroom a goes to h2; with hostFailures 1 that move is refused by name and the plan leaves the headroom intact', async () => {
    const s = fragile();
    expect(headroomShortfall(planned(s, []), 1)).toBeUndefined();
    const free = await plan(s, { config: policySchema.parse({}) });
    expect(free.moves.map((m) => [m.vmName, m.to])).toEqual([['a', 'h2']]);
    expect(headroomShortfall(planned(s, free.moves), 1)).toMatch(/^if h3 failed, d \(10240 MiB/);

    const kept = await plan(s, { config: headroom(1) });
    expect(kept.moves.map((m) => [m.vmName, m.to])).not.toContainEqual(['a', 'h2']);
    expect(headroomShortfall(planned(s, kept.moves), 1)).toBeUndefined();
    expect(kept.headroom).toEqual({ hostFailures: 1, shortfall: undefined });
    const verdicts = await judgeTargets(s.vms[0], s, { config: headroom(1) });
    expect(verdicts.find((v) => v.host === 'h2')?.reason).toBe(
      'a on h2 would break the failover headroom: if h3 failed, d (10240 MiB, 1 vCPUs) would fit on none of the 2 other host(s) (most free: 8192 MiB of guest memory) after 0 of its 1 VMs; policy.headroom.hostFailures 1 asks that they all fit',
    );
  });

  it('a cluster already below its headroom: plan says so (notice and plan.headroom) and relief still runs', async () => {
    const s = fragile();
    // e fills h2 (10 GiB placed): f (8 GiB) has nowhere to go if h1 fails, before any move.
    s.vms.push(vm('e', 'h2', 0, { memoryBytes: 6 * GiB }));
    const p = await plan(s, { config: headroom(1) });
    expect(p.headroom?.shortfall).toMatch(/^if h1 failed, f /);
    expect(p.notices).toContainEqual({
      source: 'engine',
      message: `the cluster is below its failover headroom (policy.headroom.hostFailures 1): ${p.headroom!.shortfall}`,
    });
    expect(p.moves.length).toBeGreaterThan(0);
  });

  it('a drain (must-move) is never held by the headroom', async () => {
    const s = fragile();
    s.hosts = s.hosts.map((h) => (h.name === 'h2' ? { ...h, maintenance: true } : h));
    const p = await plan(s, { config: headroom(1) });
    expect(p.moves.map((m) => m.vmName)).toContain('c');
  });
});

describe('place keeps the headroom', () => {
  it('a new VM is refused on a host where it would leave a failed host without room, not where it would not', async () => {
    // h1 8 GiB placed, h2 2, h3 10: a new 6 GiB VM on h2 leaves h1 8 free, h2 8: d (10) fits nowhere.
    const s = state(
      [host('h1'), host('h2'), host('h3')],
      [vm('x', 'h1', 0, { memoryBytes: 8 * GiB }), vm('y', 'h2', 0, { memoryBytes: 2 * GiB }), vm('d', 'h3', 0, { memoryBytes: 10 * GiB })],
    );
    const fresh = vm('new', '', 0, { memoryBytes: 6 * GiB });
    const plain = await judgeTargets(fresh, s, { config: policySchema.parse({}) });
    expect(plain.find((v) => v.host === 'h2')?.accepted).toBe(true);
    const verdicts = await judgeTargets(fresh, s, { config: headroom(1) });
    expect(verdicts.find((v) => v.host === 'h2')).toMatchObject({ accepted: false });
    expect(verdicts.find((v) => v.host === 'h2')?.reason).toMatch(/^new on h2 would break the failover headroom: if h3 failed, d /);
    // On h1 (8 + 6 = 14): if h1 fails, x (8) -> h2 (14 free), new (6) -> h2 or h3: fits; only the
    // balance policy's memory preference refuses it, as without headroom.
    expect(verdicts.find((v) => v.host === 'h1')?.reason).toBe('balance: h1 would reach memory 88% (limit 80%)');
    expect(plain.find((v) => v.host === 'h1')?.reason).toBe('balance: h1 would reach memory 88% (limit 80%)');
  });
});

describe('consolidation and power-off keep the headroom', () => {
  const consolidate = { goal: 'consolidate', cooldownSeconds: 600, maxMovesPerTick: 20, consolidation: { targetUtilizationPercent: 70 } };

  it('consolidation stops emptying hosts where the rest could no longer take a failed host, and says so', async () => {
    // Four hosts, each 6 GiB placed at low CPU. Emptying c and d onto a, b: 12 GiB each, and a
    // failed a's 12 GiB would not fit on b alone. Emptying one (d) leaves 3 hosts: a failed
    // host's VMs fit on the other two.
    const s = state(
      ['a', 'b', 'c', 'd'].map((n) => host(n)),
      ['a', 'b', 'c', 'd'].flatMap((h) => [vm(`${h}1`, h, 0.3, { memoryBytes: 3 * GiB }), vm(`${h}2`, h, 0.3, { memoryBytes: 3 * GiB })]),
    );
    const free = await plan(s, { config: policySchema.parse(consolidate) });
    const emptiedFree = new Set(free.moves.map((m) => m.from));
    expect(emptiedFree.size).toBe(2);
    const kept = await plan(s, { config: policySchema.parse({ ...consolidate, headroom: { hostFailures: 1 } }) });
    const emptied = new Set(kept.moves.map((m) => m.from));
    expect(emptied.size).toBe(1);
    const gone = [...emptied][0];
    const rest = { ...s, hosts: s.hosts.filter((h) => h.name !== gone) };
    expect(headroomShortfall(headroomHostsOf(rest, kept.moves), 1)).toBeUndefined();
    expect(kept.notices?.some((n) => n.source === 'consolidation' && n.message.startsWith('not emptying '))).toBe(true);
  });

  it('an empty host is not powered down when the rest could not take a failed host; plan says why', () => {
    const config = configSchema.parse({
      hosts: ['a', 'b', 'c'].map((n, i) => ({ name: n, uri: `qemu+tcp://10.0.0.${i + 1}/system` })),
      policy: { goal: 'consolidate', headroom: { hostFailures: 1 } },
      power: { action: 'command', powerOffCommand: ['off', '{name}'], powerOnCommand: ['on', '{address}'] },
    });
    // a and b each 10 GiB placed; c empty: without c a failed a's 10 GiB fit nowhere (b has 6 free).
    const s = state([host('a'), host('b'), host('c')], [vm('a1', 'a', 0.3, { memoryBytes: 10 * GiB }), vm('b1', 'b', 0.3, { memoryBytes: 10 * GiB })]);
    const empty = { basedOnObservedAtMs: 0, moves: [], skipped: [], imbalanceBefore: 0, imbalanceAfter: 0, policyErrors: [] };
    expect(choosePowerOffs(s, empty, new PowerStates(), config, 10_000_000)).toEqual([]);
    expect(powerOffHolds(s, new PowerStates(), config, 10_000_000)).toEqual([
      {
        host: 'c',
        reason:
          'powering c down would leave the cluster without its failover headroom (policy.headroom.hostFailures 1): if a failed, a1 (10240 MiB, 1 vCPUs) would fit on none of the 1 other host(s) (most free: 6144 MiB of guest memory) after 0 of its 1 VMs; policy.headroom.hostFailures 1 asks that they all fit',
      },
    ]);
    const without = configSchema.parse({ ...config, policy: { ...config.policy, headroom: { hostFailures: 0 } } });
    expect(choosePowerOffs(s, empty, new PowerStates(), without, 10_000_000).map((d) => d.host)).toEqual(['c']);
  });
});
