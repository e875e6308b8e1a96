import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { DecisionHistory } from '../../../src/history/index.js';
import type { JournalEntry } from '../../../src/history/journal.js';
import { plan } from '../../../src/policy/engine.js';
import { host, state, vm } from '../policy/fixtures.js';

const predicted = { totalSeconds: 10, downtimeMs: 50, bytes: 2 ** 30, converges: true };

describe('DecisionHistory: the one owner of what planning remembers', () => {
  it('starts from the journal, then each outcome: a completed move sets the cooldown, a failed one the retry delay', () => {
    const entries: JournalEntry[] = [
      {
        type: 'outcome',
        atMs: 1000,
        vm: 'v1',
        vmUuid: 'u1',
        from: 'a',
        to: 'b',
        technique: 'precopy',
        outcome: 'completed',
        totalMs: 10_000,
        bytes: 2 ** 30,
        predicted,
      },
    ];
    const history = new DecisionHistory(entries);
    // Each recent move keeps how long it took (pacing reads it: policy/scheduling.ts).
    expect(history.forState()).toEqual({
      lastMovedAtMs: { u1: 1000 },
      recentMoves: [{ vmUuid: 'u1', from: 'a', to: 'b', atMs: 1000, durationMs: 10_000 }],
      recentFailures: [],
    });
    history.observe({
      vmUuid: 'u2',
      from: 'a',
      to: 'c',
      technique: 'precopy',
      outcome: 'aborted',
      totalMs: 5000,
      predicted,
      error: 'deadline',
      endedAtMs: 2000,
    });
    history.observe({
      vmUuid: 'u1',
      from: 'b',
      to: 'a',
      technique: 'postcopy',
      outcome: 'completed',
      totalMs: 8000,
      bytes: 2 ** 30,
      predicted,
      endedAtMs: 3000,
    });
    const s = history.forState();
    expect(s.lastMovedAtMs).toEqual({ u1: 3000 });
    expect(s.recentMoves.map((m) => [m.atMs, m.durationMs])).toEqual([
      [1000, 10_000],
      [3000, 8000],
    ]);
    expect(s.recentFailures).toEqual([{ vmUuid: 'u2', from: 'a', to: 'c', atMs: 2000, outcome: 'aborted', error: 'deadline' }]);
    // The link a -> b was learned from the journal's completed move: 1 GiB in 10 s.
    expect(history.planOptions(migrationSchema.parse({})).linkBandwidthMiBps('a', 'b')).toBeCloseTo(102.4, 1);
    // forState is a snapshot: later outcomes do not change a state already built.
    history.observe({ vmUuid: 'u3', from: 'a', to: 'b', technique: 'precopy', outcome: 'completed', totalMs: 1, predicted, endedAtMs: 4000 });
    expect(s.lastMovedAtMs).toEqual({ u1: 3000 });
  });

  it('what it remembers is what the engine reads: a VM moved within the cooldown is skipped', async () => {
    const history = new DecisionHistory();
    const vms = [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)];
    history.observe({
      vmUuid: vms[0].uuid,
      from: 'b',
      to: 'a',
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 1000,
      predicted,
      endedAtMs: 1_000_000 - 60_000,
    });
    const s = state([host('a'), host('b')], vms, history.forState());
    const p = await plan(s, { config: policySchema.parse({ cooldownSeconds: 600, spread: { enabled: false } }) });
    expect(p.skipped.find((x) => x.vmName === 'v1')!.reason).toBe('moved 60 s ago; cooldown 600 s');
  });
});
