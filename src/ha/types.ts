/**
 * What the controller needs from high availability, as two small interfaces, so the store behind
 * them (etcd today) and the planning pipeline that consumes the shared history can change apart.
 */
import type { JournalEntry, UnfinishedStart } from '../history/journal.js';

/** A journal 'outcome' entry: what the shared history keeps of each finished migration. */
export type OutcomeEntry = Extract<JournalEntry, { type: 'outcome' }>;

/** Who may plan and start migrations now. */
export interface LeaderGate {
  /** True while this controller holds leadership as last confirmed (within one lease TTL). */
  isLeader(): boolean;
  /**
   * The current term's fencing token (the election key's create revision), undefined while not
   * leading. A caller that sees a new term loads the shared history and adopts running migrations
   * before it plans.
   */
  term(): string | undefined;
  /**
   * Commit the decision to start a migration: in one etcd transaction, check this controller
   * still holds its election key at the revision it won it with (the fencing token) and record
   * the start for the next leader. Resolves with undefined when committed, or with why not (not
   * leader any more, key taken over, etcd unreachable or without quorum): then nothing may start.
   */
  commitStart(start: UnfinishedStart): Promise<string | undefined>;
  /**
   * Commit the decision to power a host off or on, fenced like commitStart (the same token, in one
   * transaction that records the action for the next leader): a leader cut off from etcd keeps
   * isLeader() for up to one lease TTL and must not power a host off meanwhile. Resolves with
   * undefined when committed, or with why not: then the action is not carried out.
   */
  commitPowerAction(action: { host: string; action: 'power-off' | 'power-on'; reason: string }): Promise<string | undefined>;
}

/** The decision history a new leader needs so it does not undo what the last one did. */
export interface SharedDecisionStore {
  /** Outcomes (oldest first) and migrations started and not yet ended, as the last leader left them. */
  load(): Promise<{ outcomes: OutcomeEntry[]; unfinished: Map<string, UnfinishedStart> }>;
  /** Record an outcome (fenced like commitStart); a refusal is logged, the next leader adopts instead. */
  recordOutcome(outcome: OutcomeEntry): Promise<void>;
}
