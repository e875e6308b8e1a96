/**
 * A new leader whose own journal never saw the last leader's move must not move the VM back:
 * with the shared outcomes merged in, the planner skips it for its cooldown; without them, the
 * same cluster state plans the move back (so the test can fail).
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { moveHistory, type JournalEntry } from '../../../src/history/journal.js';
import { LearnedFromMigrations } from '../../../src/history/learned.js';
import { mergeSharedOutcomes } from '../../../src/ha/shared-history.js';
import type { OutcomeEntry } from '../../../src/ha/types.js';
import { plan } from '../../../src/policy/engine.js';
import { host, state, vm } from '../policy/fixtures.js';

const NOW_MS = 1_000_000;
const config = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 3 });

describe('shared decision history', () => {
  const vms = [vm('moved', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'b', 0.2)];
  // The last leader moved 'moved' from c to a 60 s ago (and learnt the c -> a link at 50 MiB/s).
  const shared: OutcomeEntry[] = [
    {
      type: 'outcome',
      atMs: NOW_MS - 60_000,
      vm: 'moved',
      vmUuid: vms[0].uuid,
      from: 'c',
      to: 'a',
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 20_000,
      bytes: 1000 * 2 ** 20,
      predicted: { totalSeconds: 20, downtimeMs: 50, bytes: 1000 * 2 ** 20, converges: true },
    },
  ];
  const local: JournalEntry[] = [
    {
      type: 'outcome',
      atMs: NOW_MS - 3_600_000,
      vm: 'v4',
      vmUuid: vms[3].uuid,
      from: 'a',
      to: 'b',
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 10_000,
      predicted: { totalSeconds: 10, downtimeMs: 50, bytes: 1, converges: true },
    },
  ];

  it('merges shared outcomes into the local journal once, oldest first', () => {
    const merged = mergeSharedOutcomes(local, [...shared, local[0] as OutcomeEntry]);
    expect(merged.map((e) => ('vm' in e ? e.vm : e.host))).toEqual(['v4', 'moved']);
    expect(moveHistory(merged).lastMovedAtMs).toEqual({ [vms[3].uuid]: NOW_MS - 3_600_000, [vms[0].uuid]: NOW_MS - 60_000 });
    expect(new LearnedFromMigrations(merged).links.estimateMiBps('c', 'a')).toBeCloseTo(50, 5);
  });

  it('keeps a new leader from moving back what the last one just moved (cooldown)', async () => {
    const hosts = [host('a'), host('b'), host('c')];
    const without = await plan(state(hosts, vms, { ...moveHistory(local), observedAtMs: NOW_MS }), { config, nowMs: NOW_MS });
    expect(
      without.moves.map((m) => m.vmName),
      'without the shared history the VM is a candidate',
    ).toContain('moved');
    const withShared = await plan(state(hosts, vms, { ...moveHistory(mergeSharedOutcomes(local, shared)), observedAtMs: NOW_MS }), { config, nowMs: NOW_MS });
    expect(withShared.moves.map((m) => m.vmName)).not.toContain('moved');
    expect(withShared.skipped.find((s) => s.vmName === 'moved')?.reason).toMatch(/moved 60 s ago; cooldown 600 s/);
  });
});
