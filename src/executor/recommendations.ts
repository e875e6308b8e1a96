/**
 * Recommendations: planned moves that wait for an operator's approval (policy.automation `manual`,
 * or `partial` for balancing moves). Kept in <stateDir>/recommendations.jsonl as append-only JSON
 * lines of events (recommended, resolved), folded on read. Append-only because two processes write
 * it: the controller records and expires recommendations each tick, `virt-balancer approve`
 * resolves them; single appended lines never overwrite each other's updates.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Move } from '../policy/plan-types.js';
import { waitsForApproval } from '../policy/vm-overrides.js';
import { nodeJournalFs, type JournalFs } from '../history/journal.js';

/** How a recommendation ended. */
export type RecommendationStatus = 'waiting' | 'executed' | 'refused' | 'expired' | 'superseded';

export interface Recommendation {
  /** Short id the operator types (`approve ID`): "r" and 8 hex digits. */
  id: string;
  createdAtMs: number;
  /** After this (ms since epoch) it can no longer be approved (policy.recommendationExpirySeconds). */
  expiresAtMs: number;
  /** The move as planned, with its technique and prediction. */
  move: Move;
  /** `must-move` (maintenance drain, rule repair) or `balancing`. */
  kind: 'must-move' | 'balancing';
}

export interface RecommendationResolution {
  status: Exclude<RecommendationStatus, 'waiting'>;
  atMs: number;
  /** Who approved (executed or refused at approval); absent for expiry and supersession. */
  by?: string;
  /** Migration outcome (completed, failed, aborted) when executed; what changed when refused. */
  detail?: string;
}

export interface RecommendationView extends Recommendation {
  status: RecommendationStatus;
  resolution?: RecommendationResolution;
}

type StoreEvent = { type: 'recommended'; atMs: number; recommendation: Recommendation } | ({ type: 'resolved'; id: string } & RecommendationResolution);

/** The recommendations of one state directory. */
export class RecommendationStore {
  readonly file: string;

  constructor(
    stateDir: string,
    private readonly fs: JournalFs = nodeJournalFs,
  ) {
    this.file = join(stateDir, 'recommendations.jsonl');
  }

  /**
   * Every recommendation with its status, oldest first. A waiting one past its expiry reads as
   * `expired` even before the controller records it so. Unreadable lines are skipped.
   */
  async list(nowMs = Date.now()): Promise<RecommendationView[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const byId = new Map<string, RecommendationView>();
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let event: StoreEvent;
      try {
        event = JSON.parse(line) as StoreEvent;
      } catch {
        continue;
      }
      if (event?.type === 'recommended' && typeof event.recommendation?.id === 'string')
        byId.set(event.recommendation.id, { ...event.recommendation, status: 'waiting' });
      else if (event?.type === 'resolved') {
        const r = byId.get(event.id);
        // The first resolution wins: an approval racing an expiry keeps what happened first on disk.
        if (r && r.status === 'waiting') {
          r.status = event.status;
          r.resolution = { status: event.status, atMs: event.atMs, by: event.by, detail: event.detail };
        }
      }
    }
    const all = [...byId.values()];
    for (const r of all) if (r.status === 'waiting' && r.expiresAtMs <= nowMs) r.status = 'expired';
    return all;
  }

  /** Waiting recommendations (not resolved, not expired), oldest first. */
  async waiting(nowMs = Date.now()): Promise<RecommendationView[]> {
    return (await this.list(nowMs)).filter((r) => r.status === 'waiting');
  }

  /**
   * Record this tick's moves that wait for approval. A move already waiting (same VM, source and
   * target) keeps its recommendation and id; a waiting recommendation for the same VM to another
   * target is superseded by the new one. Waiting ones past their expiry are resolved `expired`.
   * @returns the recommendations created now, and those that expired or were superseded now.
   */
  async record(
    moves: readonly Move[],
    options: { nowMs: number; expirySeconds: number },
  ): Promise<{ created: Recommendation[]; expired: RecommendationView[]; superseded: RecommendationView[] }> {
    const all = await this.list(options.nowMs);
    const expired: RecommendationView[] = [];
    const superseded: RecommendationView[] = [];
    const lines: string[] = [];
    for (const r of all) {
      // list() shows an expired one as expired; record the fact once.
      if (r.status === 'expired' && !r.resolution) {
        expired.push(r);
        lines.push(JSON.stringify({ type: 'resolved', id: r.id, status: 'expired', atMs: options.nowMs } satisfies StoreEvent));
      }
    }
    const waiting = all.filter((r) => r.status === 'waiting');
    const created: Recommendation[] = [];
    for (const move of moves) {
      if (waiting.some((r) => r.move.vmUuid === move.vmUuid && r.move.from === move.from && r.move.to === move.to)) continue;
      for (const old of waiting.filter((r) => r.move.vmUuid === move.vmUuid)) {
        superseded.push(old);
        lines.push(
          JSON.stringify({
            type: 'resolved',
            id: old.id,
            status: 'superseded',
            atMs: options.nowMs,
            detail: `a later plan moves ${move.vmName} ${move.from} -> ${move.to} instead`,
          } satisfies StoreEvent),
        );
      }
      const recommendation: Recommendation = {
        id: newRecommendationId(),
        createdAtMs: options.nowMs,
        expiresAtMs: options.nowMs + options.expirySeconds * 1000,
        move,
        kind: move.mustMove ? 'must-move' : 'balancing',
      };
      created.push(recommendation);
      lines.push(JSON.stringify({ type: 'recommended', atMs: options.nowMs, recommendation } satisfies StoreEvent));
    }
    if (lines.length > 0) await this.fs.appendDurably(this.file, lines.join('\n') + '\n');
    await this.compactIfLarge(options.nowMs);
    return { created, expired, superseded };
  }

  /**
   * Keep the file small: above `compactAboveBytes` (default 1 MiB) it is rewritten (temporary file,
   * fsync, rename) with the waiting recommendations and those that ended within the last
   * `keepEndedMs` (default 7 days, what `recommendations --all` shows). Only the controller calls
   * this, from record(). An `approve` appending in the instant between the read and the rename
   * loses its line here; the approval is still in the journal, and the recommendation reads as
   * waiting again until it expires, while a second approval of it is refused by the re-check.
   */
  async compactIfLarge(nowMs: number, options: { compactAboveBytes?: number; keepEndedMs?: number } = {}): Promise<boolean> {
    let size: number;
    try {
      size = (await stat(this.file)).size;
    } catch {
      return false;
    }
    if (size <= (options.compactAboveBytes ?? 2 ** 20)) return false;
    const keepEndedMs = options.keepEndedMs ?? 7 * 24 * 3600 * 1000;
    const kept = (await this.list(nowMs)).filter(
      (r) => r.status === 'waiting' || (r.resolution ? nowMs - r.resolution.atMs < keepEndedMs : nowMs - r.expiresAtMs < keepEndedMs),
    );
    const lines: string[] = [];
    for (const r of kept) {
      const { status: _status, resolution, ...recommendation } = r;
      lines.push(JSON.stringify({ type: 'recommended', atMs: r.createdAtMs, recommendation } satisfies StoreEvent));
      if (resolution) lines.push(JSON.stringify({ type: 'resolved', id: r.id, ...resolution } satisfies StoreEvent));
    }
    const temporary = `${this.file}.compact`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.write(lines.length ? lines.join('\n') + '\n' : '');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.file);
    return true;
  }

  /** Record how a recommendation ended (approval executed or refused). */
  async resolve(id: string, resolution: RecommendationResolution): Promise<void> {
    await this.fs.appendDurably(this.file, JSON.stringify({ type: 'resolved', id, ...resolution } satisfies StoreEvent) + '\n');
  }
}

/** "r" and 8 random hex digits: short to type, unique enough for the recommendations of one cluster. */
export function newRecommendationId(): string {
  return `r${randomBytes(4).toString('hex')}`;
}

/**
 * Which of a tick's moves run now and which wait for approval, by automation level: `full` runs
 * all, `manual` none, `partial` the must-moves (maintenance drains, rule repairs). A move's own
 * level (Move.automation: the VM's override) replaces `automation` for it.
 */
export function splitByAutomation(moves: readonly Move[], automation: 'manual' | 'partial' | 'full'): { run: Move[]; wait: Move[] } {
  const waits = (m: Move) => waitsForApproval(m.automation ?? automation, Boolean(m.mustMove));
  return { run: moves.filter((m) => !waits(m)), wait: moves.filter(waits) };
}
