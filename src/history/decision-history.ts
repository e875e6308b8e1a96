/**
 * Decision history: the one owner of what planning remembers about past moves. Built from the
 * journal at start, updated with every outcome. Planning reads it through one view (`view`,
 * taken by controller/pipeline.ts and the simulator): the per-VM history the engine's cooldown,
 * anti-ping-pong and retry rules read (ClusterState.lastMovedAtMs, recentMoves, recentFailures:
 * the rules themselves are the engine's, src/policy/core-filters.ts) and the plan options learned
 * from past migrations (link bandwidths, the cost model's calibration). The collector observes
 * libvirt only: its states carry no history until planning applies it.
 */
import type { ClusterState } from '../cluster/model.js';
import type { MigrationConfig } from '../config/migration-schema.js';
import type { Prediction, Technique } from '../policy/plan-types.js';
import { moveHistory, type JournalEntry } from './journal.js';
import { LearnedFromMigrations } from './learned.js';

/** What history needs from a finished migration (the executor's MigrationResult has these fields). */
export interface MoveOutcome {
  vmUuid: string;
  from: string;
  to: string;
  technique: Technique;
  outcome: 'completed' | 'aborted' | 'failed';
  totalMs: number;
  downtimeMs?: number;
  bytes?: number;
  predicted: Prediction;
  error?: string;
  endedAtMs: number;
  adoptedAfterRestart?: boolean;
  /** The stream was encrypted (VIR_MIGRATE_TLS): TLS moves' link throughput is learned apart. */
  tls?: boolean;
  /** The guest's memory that was not zero pages when it moved (MigrationResult.nonzeroMemoryBytes). */
  nonzeroMemoryBytes?: number;
}

/** Recent moves and failures kept (enough for cooldowns and retry delays on any real cluster). */
const KEPT = 500;

export class DecisionHistory {
  private lastMovedAtMs: Record<string, number>;
  private recentMoves: ClusterState['recentMoves'];
  private recentFailures: NonNullable<ClusterState['recentFailures']>;
  /** Link bandwidths and the cost model's calibration. */
  readonly learned: LearnedFromMigrations;

  constructor(entries: readonly JournalEntry[] = []) {
    const h = moveHistory(entries);
    this.lastMovedAtMs = h.lastMovedAtMs;
    this.recentMoves = h.recentMoves;
    this.recentFailures = h.recentFailures;
    this.learned = new LearnedFromMigrations(entries);
  }

  /** Remember one outcome: a completed move starts the VM's cooldown; a failed one delays retrying that target. */
  observe(r: MoveOutcome): void {
    this.learned.observe(r);
    if (r.outcome === 'completed') {
      this.lastMovedAtMs[r.vmUuid] = r.endedAtMs;
      this.recentMoves.push({ vmUuid: r.vmUuid, from: r.from, to: r.to, atMs: r.endedAtMs, durationMs: r.totalMs });
      if (this.recentMoves.length > KEPT) this.recentMoves = this.recentMoves.slice(-KEPT);
    } else {
      this.recentFailures.push({ vmUuid: r.vmUuid, from: r.from, to: r.to, atMs: r.endedAtMs, outcome: r.outcome, error: r.error });
      if (this.recentFailures.length > KEPT) this.recentFailures = this.recentFailures.slice(-KEPT);
    }
  }

  /** The history part of a ClusterState (copies: a state is a snapshot). */
  forState(): Pick<ClusterState, 'lastMovedAtMs' | 'recentMoves'> & { recentFailures: NonNullable<ClusterState['recentFailures']> } {
    return { lastMovedAtMs: { ...this.lastMovedAtMs }, recentMoves: [...this.recentMoves], recentFailures: [...this.recentFailures] };
  }

  /**
   * What planning reads of history, in one view: `state` with its history part (cooldowns, recent
   * moves and failures) replaced by this history's, and the plan() options learned from past
   * migrations (link bandwidths, calibration, the cost model's tunables from `migration`).
   */
  view(state: ClusterState, migration: MigrationConfig): { state: ClusterState; options: ReturnType<LearnedFromMigrations['planOptions']> } {
    return { state: { ...state, ...this.forState() }, options: this.planOptions(migration) };
  }

  /** The plan() options learned from past migrations, with the cost model's tunables from the migration config. */
  planOptions(migration: MigrationConfig): ReturnType<LearnedFromMigrations['planOptions']> {
    return this.learned.planOptions(migration);
  }
}
