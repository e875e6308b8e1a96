/**
 * The live steps of a rolling maintenance (controller/workflows/maintenance-steps.ts) on the real
 * planner and engine with a fake executor and observations: a drain the cluster cannot take stops
 * before anything moves, a host down or flagged in maintenance stops with its code, the health
 * wait times out, and the return step moves each resident back or says which VM could not go.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { ClusterState } from '../../../src/cluster/model.js';
import { parseConfig } from '../../../src/config/load.js';
import { liveRollSteps } from '../../../src/controller/workflows/maintenance-steps.js';
import type { MigrationResult } from '../../../src/executor/index.js';
import '../../../policies/index.js';
import { testWorkflowContext } from './workflow-context.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;

async function context(observed: () => ClusterState, extra: { maintenanceHost?: string; outcome?: string; hosts?: string[] } = {}) {
  const config = parseConfig({
    hosts: (extra.hosts ?? ['a', 'b']).map((name, i) => ({ name, uri: `qemu+tcp://127.0.0.1:${i + 1}/system`, maintenance: name === extra.maintenanceHost })),
  });
  const submit = vi.fn(() => ({ rejected: [] }));
  const runNow = vi.fn(
    async (m: { vmName: string; vmUuid: string; from: string; to: string }) =>
      ({
        vm: m.vmName,
        vmUuid: m.vmUuid,
        from: m.from,
        to: m.to,
        technique: 'precopy',
        outcome: extra.outcome ?? 'completed',
        totalMs: 1000,
        error: extra.outcome ? 'the target refused the incoming migration' : undefined,
      }) as unknown as MigrationResult,
  );
  const ctx = await testWorkflowContext(
    config,
    { submit, runNow, finished: () => [], dropped: () => [], queued: () => [], whenIdle: async () => {}, inFlight: () => [] },
    observed,
  );
  return { ctx, submit, runNow };
}

const options = { hookTimeoutMs: 10_000, healthyTimeoutMs: 0, pollMs: 1 };

describe('rolling maintenance: the live steps', () => {
  it('drain: a VM the other hosts cannot take stops the roll before anything moves (drain-cannot-place, naming the VM)', async () => {
    // b has 8 of its 16 GiB used; a's 12 GiB VM fits nowhere (memory overcommit 1).
    const observed = state(
      [host('a'), host('b')],
      [vm('big', 'a', 0.1, { memoryBytes: 12 * GiB, maxMemoryBytes: 12 * GiB }), vm('other', 'b', 0.1, { memoryBytes: 8 * GiB, maxMemoryBytes: 8 * GiB })],
    );
    const { ctx, submit } = await context(() => observed);
    const outcome = await liveRollSteps(ctx, options).drain('a');
    expect(outcome).toMatchObject({ ok: false, code: 'drain-cannot-place' });
    expect(outcome.ok ? '' : outcome.detail).toMatch(/^the cluster cannot take a's VMs: big: .*; nothing was moved off a\./);
    expect(submit).not.toHaveBeenCalled();
  });

  it('drain: a VM that fits nowhere until a make-room move ran follows in a second round (not drain-cannot-place)', async () => {
    const G = 16 * GiB;
    const hosts = () => [host('a', { memoryTotalBytes: G }), host('b', { memoryTotalBytes: G }), host('c', { memoryTotalBytes: G })];
    const big = vm('big', 'a', 0.1, { memoryBytes: 12 * GiB, maxMemoryBytes: 12 * GiB });
    const fill = (h: string) => vm('fill', h, 0.1, { memoryBytes: 8 * GiB, maxMemoryBytes: 8 * GiB });
    const small = vm('small', 'c', 0.1, { memoryBytes: 5 * GiB, maxMemoryBytes: 5 * GiB });
    // Before any move: fill on b (8 GiB: big cannot go there), c has 12 GiB free minus small's 4.
    // After the first round's submit, fill is on c and b is free.
    let submitted = 0;
    const { ctx, submit } = await context(() => (submitted === 0 ? state(hosts(), [big, fill('b'), small]) : state(hosts(), [big, fill('c'), small])), {
      hosts: ['a', 'b', 'c'],
    });
    submit.mockImplementation(() => {
      submitted++;
      return { rejected: [] };
    });
    const outcome = await liveRollSteps(ctx, options).drain('a');
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    const rounds = submit.mock.calls.map((c) => ((c as unknown as [{ vmName: string }[]])[0] ?? []).map((m) => m.vmName));
    // The smallest VM whose leaving makes room goes first (small, off c), then big follows.
    expect(rounds).toEqual([['small'], ['big']]);
  });

  it('drain: a migration still running from a controller that died mid-drain is waited for before planning', async () => {
    let observations = 0;
    // Observed twice with v1's job running (started by the killed controller), then done: v1 already left.
    const { ctx, submit } = await context(() =>
      ++observations <= 2 ? state([host('a'), host('b')], [vm('v1', 'a', 0.1, { jobRunning: true })]) : state([host('a'), host('b')], [vm('v1', 'b', 0.1)]),
    );
    const outcome = await liveRollSteps(ctx, { ...options, healthyTimeoutMs: 10_000 }).drain('a');
    expect(outcome).toEqual({ ok: true, moved: [] });
    expect(observations).toBeGreaterThanOrEqual(3);
    expect(submit).toHaveBeenCalledWith([], expect.anything());
  });

  it('drain: a host down is host-down with the fix', async () => {
    const { ctx } = await context(() => state([host('a', { up: false, downReason: 'connection refused' }), host('b')], []));
    const outcome = await liveRollSteps(ctx, options).drain('a');
    expect(outcome).toMatchObject({ ok: false, code: 'host-down' });
    expect(outcome.ok ? '' : outcome.detail).toContain('run maintenance --resume');
  });

  it("drain: a host flagged maintenance in the config (someone else's) stops before anything is done to it", async () => {
    const { ctx, submit } = await context(() => state([host('a'), host('b')], [vm('v1', 'a', 0.1)]), { maintenanceHost: 'a' });
    const outcome = await liveRollSteps(ctx, options).drain('a');
    expect(outcome).toMatchObject({ ok: false, code: 'host-in-maintenance' });
    expect(outcome.ok ? '' : outcome.detail).toContain('nothing was done to it');
    expect(submit).not.toHaveBeenCalled();
  });

  it('hook: a VM running again on the drained host is drained again first; one that cannot leave stops the roll before the hook, which is not run', async () => {
    const marker = join(tmpdir(), `vb-hook-ran-${process.pid}`);
    // came-back (12 GiB) arrived on a; b has 8 of 16 GiB used: it cannot leave again.
    const observed = state(
      [host('a'), host('b')],
      [
        vm('came-back', 'a', 0.1, { memoryBytes: 12 * GiB, maxMemoryBytes: 12 * GiB }),
        vm('other', 'b', 0.1, { memoryBytes: 8 * GiB, maxMemoryBytes: 8 * GiB }),
      ],
    );
    const { ctx, submit } = await context(() => observed);
    const outcome = await liveRollSteps(ctx, options).hook('a', ['/bin/sh', '-c', `touch ${marker}`]);
    expect(outcome).toMatchObject({ ok: false, code: 'host-not-empty' });
    expect(outcome.ok ? '' : outcome.detail).toContain('came-back runs on a again since its drain');
    expect(outcome.ok ? '' : outcome.detail).toContain('and draining it again failed: the cluster cannot take');
    expect(existsSync(marker)).toBe(false);
    expect(submit).not.toHaveBeenCalled();
  });

  it('hook: a VM that arrived on the drained host and can leave again is drained again, then the hook runs', async () => {
    let drained = false;
    const { ctx, submit } = await context(() => state([host('a'), host('b')], [vm('came-back', drained ? 'b' : 'a', 0.1)]));
    submit.mockImplementation(() => {
      drained = true;
      return { rejected: [] };
    });
    const outcome = await liveRollSteps(ctx, options).hook('a', ['/bin/sh', '-c', 'exit 0']);
    expect(submit).toHaveBeenCalledTimes(1);
    expect(outcome).toMatchObject({ ok: true, exitCode: 0 });
  });

  it('a host gone from the config since the roll began stops the step with what to do, not a crash', async () => {
    const { ctx } = await context(() => state([host('a'), host('b')], []));
    const outcome = await liveRollSteps(ctx, options).hook('gone', ['/bin/true']);
    expect(outcome).toMatchObject({ ok: false, code: 'host-down' });
    expect(outcome.ok ? '' : outcome.detail).toContain('gone is no longer in the config');
  });

  it('healthy: a host still down at the timeout is host-not-healthy with its reason; one flagged maintenance in the config is host-in-maintenance', async () => {
    let observations = 0;
    const { ctx } = await context(() => {
      observations++;
      return state([host('a', { up: false, downReason: 'connection refused by 127.0.0.1:1' }), host('b')], []);
    });
    const retrySoon = vi.fn();
    const down = await liveRollSteps(ctx, { ...options, retrySoon }).healthy('a');
    expect(down).toMatchObject({ ok: false, code: 'host-not-healthy' });
    expect(down.ok ? '' : down.detail).toContain('connection refused by 127.0.0.1:1');
    expect(observations).toBeGreaterThan(0);
    const flagged = await context(() => state([host('a'), host('b')], []), { maintenanceHost: 'a' });
    expect(await liveRollSteps(flagged.ctx, options).healthy('a')).toMatchObject({ ok: false, code: 'host-in-maintenance' });
    const up = await context(() => state([host('a'), host('b')], []));
    expect(await liveRollSteps(up.ctx, options).healthy('a')).toMatchObject({ ok: true });
  });

  it('return: each resident elsewhere goes back home; one already home or gone is not moved; a failed move is return-failed naming the VM', async () => {
    const residents = [
      { name: 'v1', uuid: vm('v1', 'a', 0).uuid },
      { name: 'v2', uuid: vm('v2', 'a', 0).uuid },
      { name: 'gone', uuid: vm('gone', 'a', 0).uuid },
    ];
    let where = 'b';
    const observed = () => state([host('a'), host('b')], [vm('v1', where, 0.1), vm('v2', 'a', 0.1)]);
    const { ctx, runNow } = await context(observed);
    const outcome = await liveRollSteps(ctx, options).returnVms('a', residents);
    expect(outcome).toMatchObject({ ok: true, moved: ['v1'], detail: 'no longer defined anywhere, not returned: gone' });
    expect(runNow.mock.calls.map(([m]) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['v1 b->a']);
    where = 'b';
    const failing = await context(observed, { outcome: 'failed' });
    const failed = await liveRollSteps(failing.ctx, options).returnVms('a', residents);
    expect(failed).toMatchObject({ ok: false, code: 'return-failed', moved: [] });
    expect(failed.ok ? '' : failed.detail).toMatch(/^v1 b -> a: failed \(the target refused the incoming migration\); it runs on b\./);
  });
});
