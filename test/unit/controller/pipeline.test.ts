/**
 * Issue 30 item 2: history enters planning through one door. The collector's states carry no
 * history; the pipeline applies the decision history's one view (cooldowns, recent moves and
 * failures, link bandwidths, calibration) to the state it plans on and returns that state.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { planObserved, planRequested } from '../../../src/controller/pipeline.js';
import { DecisionHistory, type JournalEntry } from '../../../src/history/index.js';
import { loadPolicies } from '../../../src/policy/loader.js';
import { host, state, vm } from '../policy/fixtures.js';

const config = parseConfig({
  hosts: ['a', 'b', 'c'].map((name, i) => ({ name, uri: `qemu+tcp://127.0.0.1:${i + 1}/system` })),
  policy: { cooldownSeconds: 600, maxMovesPerTick: 3 },
});
const vms = [vm('cool', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('x', 'a', 0.9)];
/** As the collector returns it: no history (lastMovedAtMs {}, recentMoves [], recentFailures []). */
const observed = state([host('a'), host('b', { maintenance: true }), host('c')], vms);
const GiB = 2 ** 30;
/** `cool` came to a 10 s before the observation, 8 GiB in 8 s (1,024 MiB/s on c -> a). */
const movedIn: JournalEntry = {
  type: 'outcome',
  atMs: observed.observedAtMs - 10_000,
  vm: 'cool',
  vmUuid: vms[0].uuid,
  from: 'c',
  to: 'a',
  technique: 'precopy',
  outcome: 'completed',
  totalMs: 8_000,
  bytes: 8 * GiB,
};

describe('planning pipeline: history through one door', () => {
  it("applies the history's cooldown to a state the collector gave without history, and returns the state it planned on", async () => {
    const history = new DecisionHistory([movedIn]);
    const { state: planned, plan } = await planObserved(observed, { config, policies: await loadPolicies(config.policy), history });
    expect(plan.moves.map((m) => m.vmName)).not.toContain('cool');
    expect(plan.skipped.find((s) => s.vmName === 'cool')!.reason).toMatch(/cooldown/);
    expect(planned.lastMovedAtMs).toEqual({ [vms[0].uuid]: movedIn.atMs });
    expect(planned.recentMoves).toEqual([{ vmUuid: vms[0].uuid, from: 'c', to: 'a', atMs: movedIn.atMs, durationMs: 8_000 }]);
    // The learned link bandwidth comes through the same view: the pair never measured is planned at the cluster's figure.
    expect(plan.moves.length).toBeGreaterThan(0);
    for (const m of plan.moves) expect(m.inputs.bandwidthMiBps).toBe(1024);
  });

  it("an operator's request is planned through the same view (the learned link bandwidth)", async () => {
    const history = new DecisionHistory([movedIn]);
    const planned = await planRequested(
      observed,
      { vmUuid: vms[1].uuid, to: 'c', reason: 'test' },
      { config, policies: await loadPolicies(config.policy), history },
    );
    expect('move' in planned && planned.move.inputs.bandwidthMiBps).toBe(1024);
  });
});
