/**
 * What a new leader plans with: its own journal merged with the outcomes the shared history holds
 * (the last leader's moves and failures), so cooldowns, the anti-ping-pong memory of recent moves,
 * retry-after-failure and link bandwidths carry over a failover. Pure, so it is unit-tested.
 */
import type { JournalEntry } from '../history/journal.js';
import type { OutcomeEntry } from './types.js';

/**
 * The local entries plus every shared outcome not already among them (same VM and end time),
 * oldest first, ready for the journal readers (moveHistory, LearnedFromMigrations).
 */
export function mergeSharedOutcomes(local: readonly JournalEntry[], shared: readonly OutcomeEntry[]): JournalEntry[] {
  const seen = new Set(local.filter((e) => e.type === 'outcome').map((e) => `${e.vmUuid}@${e.atMs}`));
  return [...local, ...shared.filter((e) => !seen.has(`${e.vmUuid}@${e.atMs}`))].sort((a, b) => a.atMs - b.atMs);
}
