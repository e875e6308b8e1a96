/**
 * The approval workflow (controller/workflows/approve.ts) judges a recommendation with the decision
 * history: `approve` used to re-judge on a state collected without it, so a VM moved since the
 * recommendation (by the daemon, or by hand) was moved again inside its cooldown.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { WorkflowContext } from '../../../src/controller/workflows/context.js';
import { approveRecommendations } from '../../../src/controller/workflows/approve.js';
import type { Executor } from '../../../src/executor/executor.js';
import type { MigrationResult } from '../../../src/executor/index.js';
import { RecommendationStore } from '../../../src/executor/recommendations.js';
import { DecisionHistory, Journal } from '../../../src/history/index.js';
import { createLogger } from '../../../src/log/logger.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;
const v1 = vm('v1', 'a', 0.5);
// A second VM on a: moving v1 to b pays.
const v2 = vm('v2', 'a', 0.5);
const move: Move = {
  vmName: 'v1',
  vmUuid: v1.uuid,
  from: 'a',
  to: 'b',
  technique: 'precopy',
  copyStorage: false,
  predicted: { totalSeconds: 2, downtimeMs: 50, bytes: GiB, converges: true },
  reason: 'test',
  gain: 0.1,
  inputs: { memoryBytes: GiB, dirtyRateMiBps: 0, bandwidthMiBps: 1000, downtimeBudgetMs: 300 },
};
const config = parseConfig({
  hosts: [
    { name: 'a', uri: 'qemu+tcp://127.0.0.1:1/system' },
    { name: 'b', uri: 'qemu+tcp://127.0.0.1:2/system' },
    { name: 'c', uri: 'qemu+tcp://127.0.0.1:3/system' },
  ],
  policy: { automation: 'manual', cooldownSeconds: 600 },
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vb-approve-workflow-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function approveWith(history: DecisionHistory, running: { vmUuid: string; vmName: string }[] = []) {
  const nowMs = Date.now();
  // What the hosts show: no history in it (the workflow adds its own).
  const observed = state([host('a'), host('b'), host('c')], [v1, v2], { observedAtMs: nowMs });
  const store = new RecommendationStore(dir);
  const { created } = await store.record([move], { nowMs: nowMs - 120_000, expirySeconds: 3600 });
  const journal = new Journal(dir);
  const completed = { vm: 'v1', vmUuid: v1.uuid, from: 'a', to: 'b', technique: 'precopy', outcome: 'completed', totalMs: 2000 } as MigrationResult;
  const runNow = vi.fn(async () => completed);
  const ctx: WorkflowContext = {
    config,
    logger: createLogger({ level: 'silent' }),
    policies: [],
    history,
    journal,
    collector: undefined as never,
    executor: { runNow, inFlight: () => running } as unknown as Executor,
    observe: async () => observed,
  };
  const reports = await approveRecommendations(ctx, store, await store.waiting(), 'tester', observed);
  await journal.close();
  return { reports, runNow, id: created[0].id, store, journal };
}

describe('approve re-judges with the decision history', () => {
  it('runs the move when the history has nothing against it', async () => {
    const { reports, runNow } = await approveWith(new DecisionHistory());
    expect(reports.map((r) => [r.code, r.detail])).toEqual([['executed', 'completed in 2.00 s, downtime ? ms']]);
    expect(runNow).toHaveBeenCalledTimes(1);
  });

  it('approved twice at once: the second finds the first claimed (its migration runs or waits) and answers cannot-start, running nothing more', async () => {
    const nowMs = Date.now();
    const observed = state([host('a'), host('b'), host('c')], [v1, v2], { observedAtMs: nowMs });
    const store = new RecommendationStore(dir);
    await store.record([move], { nowMs: nowMs - 120_000, expirySeconds: 3600 });
    const journal = new Journal(dir);
    let finish!: () => void;
    const runNow = vi.fn(
      () =>
        new Promise<MigrationResult>((resolve) => {
          finish = () =>
            resolve({ vm: 'v1', vmUuid: v1.uuid, from: 'a', to: 'b', technique: 'precopy', outcome: 'completed', totalMs: 2000 } as MigrationResult);
        }),
    );
    const ctx: WorkflowContext = {
      config,
      logger: createLogger({ level: 'silent' }),
      policies: [],
      history: new DecisionHistory(),
      journal,
      collector: undefined as never,
      executor: { runNow, inFlight: () => [] } as unknown as Executor,
      observe: async () => observed,
    };
    const waiting = await store.waiting();
    const first = approveRecommendations(ctx, store, waiting, 'api:one', observed);
    await vi.waitFor(() => expect(runNow).toHaveBeenCalledTimes(1));
    const second = await approveRecommendations(ctx, store, waiting, 'api:two', observed);
    expect(second.map((r) => r.code)).toEqual(['cannot-start']);
    expect(second[0].detail).toContain('is being approved already');
    finish();
    expect((await first).map((r) => r.code)).toEqual(['executed']);
    expect(runNow).toHaveBeenCalledTimes(1);
    await journal.close();
  });

  it('refuses, as stale, a VM that moved since it was recommended (in its cooldown), and runs nothing', async () => {
    const history = new DecisionHistory();
    // v1 came to a 60 s ago (by the daemon, or a hand-run migrate): its cooldown runs 600 s.
    history.observe({
      vmUuid: v1.uuid,
      from: 'c',
      to: 'a',
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 3000,
      predicted: move.predicted,
      endedAtMs: Date.now() - 60_000,
    });
    const { reports, runNow, id, store, journal } = await approveWith(history);
    expect(runNow).not.toHaveBeenCalled();
    expect(reports).toHaveLength(1);
    expect(reports[0].code).toBe('stale');
    expect(reports[0].detail).toMatch(/^stale: VM v1 is in its cooldown \(moved 60 s ago; cooldown 600 s\)$/);
    expect((await store.list()).find((r) => r.id === id)?.status).toBe('refused');
    const approvals = (await journal.read()).filter((e) => e.type === 'approval');
    expect(approvals).toMatchObject([{ id, by: 'tester', decision: 'refused' }]);
  });
});
