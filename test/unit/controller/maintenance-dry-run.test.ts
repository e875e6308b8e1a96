/**
 * The rolling maintenance's dry run (workflows/maintenance-dry-run.ts) simulates the roll in order
 * on the real planner: host N's drain is planned on the cluster hosts 1..N-1 left (their drains'
 * moves, and with --return their VMs back home), and the first host where the real roll would
 * stop ends it with the step, code and reason (the command exits 1 then). It planned every host
 * on the cluster as observed and said nothing of a stop.
 */
import { describe, expect, it, vi } from 'vitest';
import { renderMaintenanceDryRun } from '../../../src/cli/format-maintenance.js';
import type { ClusterState } from '../../../src/cluster/model.js';
import { parseConfig } from '../../../src/config/load.js';
import { applyMoves, dryRunRoll } from '../../../src/controller/workflows/maintenance-dry-run.js';
import '../../../policies/index.js';
import { testWorkflowContext } from './workflow-context.js';
import type { Move } from '../../../src/policy/index.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;

async function context(observed: ClusterState, flagged?: string, pinnedVms: string[] = []) {
  const names = observed.hosts.map((h) => h.name);
  const config = parseConfig({
    hosts: names.map((name, i) => ({ name, uri: `qemu+tcp://127.0.0.1:${i + 1}/system`, maintenance: name === flagged })),
    policy: { pinnedVms },
  });
  const executor = { submit: vi.fn(), runNow: vi.fn() };
  const ctx = await testWorkflowContext(config, executor, () => observed);
  return { ctx, executor };
}

const roll = (hosts: string[], returnVms = false) => ({ plan: { rollId: 'r1', hosts, returnVms }, residents: new Map() });
const big = (name: string, on: string) => vm(name, on, 0.1, { memoryBytes: 10 * GiB, maxMemoryBytes: 10 * GiB });

describe('maintenance --dry-run simulates the roll in order', () => {
  it("host 2's drain is planned on the cluster host 1's drain left: its VM goes to the emptied host 1, not to where host 1's VM went", async () => {
    // 16 GiB hosts: x (10 GiB) on a can only go to c (b holds y); then y can only go to a, now empty.
    // Planned on the cluster as observed, y would go to c (empty then, a holding x): the roll would not do that.
    const observed = state([host('a'), host('b'), host('c')], [big('x', 'a'), big('y', 'b')]);
    const { ctx, executor } = await context(observed);
    const out = await dryRunRoll(ctx, observed, roll(['a', 'b']), 0);
    expect(out.stop).toBeUndefined();
    expect(out.hosts.map((h) => h.moves.map((m) => `${m.vm} ${m.from}->${m.to}`))).toEqual([['x a->c'], ['y b->a']]);
    expect(executor.submit).not.toHaveBeenCalled();
    expect(executor.runNow).not.toHaveBeenCalled();
  });

  it('with --return, each host is planned after the earlier hosts got their VMs back', async () => {
    const observed = state([host('a'), host('b'), host('c')], [big('x', 'a'), big('y', 'b')]);
    const { ctx } = await context(observed);
    const out = await dryRunRoll(ctx, observed, roll(['a', 'b'], true), 0);
    expect(out.stop).toBeUndefined();
    expect(out.hosts.map((h) => [h.moves.map((m) => `${m.vm} ${m.from}->${m.to}`), h.returns.map((m) => `${m.vm} ${m.from}->${m.to}`)])).toEqual([
      [['x a->c'], ['x c->a']],
      // x is back on a: y can only go to c.
      [['y b->c'], ['y c->b']],
    ]);
  });

  it('stops where the real roll would stop (drain-cannot-place), naming the VM; later hosts are not reached', async () => {
    // z (15 GiB) on b fits on no other host (a and c hold 10 GiB each, nothing else can move to make room).
    const observed = state(
      [host('a'), host('b'), host('c')],
      [big('x', 'a'), big('w', 'c'), vm('z', 'b', 0.1, { memoryBytes: 15 * GiB, maxMemoryBytes: 15 * GiB })],
    );
    const { ctx } = await context(observed);
    const out = await dryRunRoll(ctx, observed, roll(['b', 'a', 'c']), 0);
    expect(out.stop).toMatchObject({ host: 'b', step: 'drain', code: 'drain-cannot-place' });
    expect(out.stop?.detail).toMatch(
      /^the cluster cannot take b's VMs: z: .*\. Make room or relax the rule \(see `virt-balancer drain b --dry-run`\), then run the roll$/,
    );
    expect(out.hosts.map((h) => h.host)).toEqual(['b']);
    const text = renderMaintenanceDryRun({ rollId: 'r1', resumed: false, returnVms: false, hookTimeoutSeconds: 60, healthyTimeoutSeconds: 60, ...out });
    expect(text).toContain('not placed: z: ');
    expect(text).toContain("the roll would STOP at b, step drain: drain-cannot-place\n  the cluster cannot take b's VMs: z: ");
  });

  it("a resumed roll goes on at the host's first step not done: a drained host down for its reboot waits, its VMs return once it is back", async () => {
    // a was drained (x went to c) and is rebooting: the real roll waits at its healthy step, then returns x and goes on to b.
    const observed = state([host('a', { up: false, downReason: 'connection refused' }), host('b'), host('c')], [big('x', 'c'), big('y', 'b')]);
    const { ctx } = await context(observed);
    const resumed = {
      ...roll(['a', 'b'], true),
      residents: new Map([['a', [{ name: 'x', uuid: vm('x', 'c', 0).uuid }]]]),
      done: new Map([['a', new Set(['drain' as const])]]),
    };
    const out = await dryRunRoll(ctx, observed, resumed, 0);
    expect(out.stop).toBeUndefined();
    expect(out.hosts[0]).toMatchObject({ host: 'a', moves: [], resumedAfter: ['drain'], waitsForHost: true, notReturned: [] });
    expect(out.hosts[0].returns.map((m) => `${m.vm} ${m.from}->${m.to}`)).toEqual(['x c->a']);
    expect(out.hosts[0].steps).not.toContain('drain');
    // x is home again when b drains: y goes to c (before the fix: a stop host-down at a, drained again).
    expect(out.hosts[1].moves.map((m) => `${m.vm} ${m.from}->${m.to}`)).toEqual(['y b->c']);
    const text = renderMaintenanceDryRun({ rollId: 'r1', resumed: true, returnVms: true, hookTimeoutSeconds: 60, healthyTimeoutSeconds: 60, ...out });
    expect(text).toContain('resumed after: drain (done)');
    expect(text).toContain('down now: the roll waits for it to be healthy, then returns its VMs');
  });

  it('a host flagged maintenance in the config, or down, stops the dry run as it stops the roll', async () => {
    const observed = state([host('a'), host('b', { up: false, downReason: 'connection refused' }), host('c')], [vm('v', 'a', 0.1)]);
    const flagged = await context(observed, 'a');
    const flaggedStop = (await dryRunRoll(flagged.ctx, observed, roll(['a', 'b']), 0)).stop;
    expect(flaggedStop).toMatchObject({ host: 'a', code: 'host-in-maintenance' });
    // The fix, as the real step says it.
    expect(flaggedStop?.detail).toMatch(/Remove the flag when that is done, or leave a out \(--hosts\)$/);
    const { ctx } = await context(observed);
    const down = await dryRunRoll(ctx, observed, roll(['a', 'b', 'c']), 0);
    expect(down.stop).toMatchObject({ host: 'b', step: 'drain', code: 'host-down' });
    expect(down.stop?.detail).toMatch(/; bring it back, or leave it out \(--hosts\)$/);
    expect(down.hosts.map((h) => h.host)).toEqual(['a', 'b']);
  });

  it('with --return, a VM pinned since its drain is not returned (said), as the roll leaves it', async () => {
    const observed = state([host('a'), host('b'), host('c')], [big('x', 'a'), big('y', 'b')]);
    const { ctx } = await context(observed, undefined, ['x']);
    // x was drained before its pin: the recorded residents say it was on a.
    const out = await dryRunRoll(ctx, observed, { plan: { rollId: 'r1', hosts: ['a'], returnVms: true }, residents: new Map([['a', []]]) }, 0);
    expect(out.hosts[0].notReturned).toEqual([]);
    const moved = applyMoves(observed, [{ vmUuid: vm('x', 'a', 0).uuid, vmName: 'x', from: 'a', to: 'c' } as Move]);
    const resumed = await dryRunRoll(
      ctx,
      moved,
      { plan: { rollId: 'r1', hosts: ['a'], returnVms: true }, residents: new Map([['a', [{ name: 'x', uuid: vm('x', 'a', 0).uuid }]]]) },
      0,
    );
    expect(resumed.stop).toBeUndefined();
    expect(resumed.hosts[0].returns).toEqual([]);
    expect(resumed.hosts[0].notReturned).toEqual([{ vm: 'x', reason: 'pinned: listed in policy.pinnedVms; take it out of the list to move it' }]);
  });

  it('applyMoves carries a VM with its memory and CPU from host to host', () => {
    const observed = state([host('a'), host('b')], [big('x', 'a')]);
    const moved = applyMoves(observed, [{ vmUuid: vm('x', 'a', 0).uuid, vmName: 'x', from: 'a', to: 'b' } as Move]);
    expect(moved.vms.map((v) => v.host)).toEqual(['b']);
    expect(moved.hosts.map((h) => h.memoryUsedBytes)).toEqual([0, 10 * GiB]);
    expect(moved.hosts[1].cpuUtilization.mean).toBeCloseTo(0.1 / 4, 9);
    expect(moved.hosts[0].cpuUtilization.mean).toBeCloseTo(0, 9);
  });
});
