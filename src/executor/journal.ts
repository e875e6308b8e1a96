/**
 * The journal: append-only JSON lines in <stateDir>/journal.jsonl of every decision and outcome,
 * read back by `virt-balancer history` and after a restart (cooldowns, recent moves).
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LinkObservation } from '../cluster/link-bandwidth.js';
import type { CalibrationSample } from '../policy/calibration.js';
import type { Move, Prediction } from '../policy/plan-types.js';

export type JournalEntry =
  | { type: 'planned'; atMs: number; vm: string; vmUuid: string; from: string; to: string; technique: string; reason: string; predicted: unknown; dryRun: boolean }
  | { type: 'rejected'; atMs: number; vm: string; vmUuid: string; from: string; to: string; reason: string }
  | { type: 'started'; atMs: number; vm: string; vmUuid: string; from: string; to: string; technique: string; predicted?: Prediction; deadlineSeconds?: number }
  | { type: 'adapted'; atMs: number; vm: string; vmUuid: string; action: string; detail: string }
  | {
      type: 'outcome';
      atMs: number;
      vm: string;
      vmUuid: string;
      from: string;
      to: string;
      technique: string;
      outcome: string;
      /** libvirt's figures for the job (completed-job stats): elapsed, downtime, bytes, pre-copy passes, dirty rate seen. */
      totalMs?: number;
      downtimeMs?: number;
      bytes?: number;
      iterations?: number;
      jobDirtyRateMiBps?: number;
      predicted?: Prediction;
      /** What the prediction assumed: memory, dirty rate, bandwidth, downtime budget. */
      inputs?: Move['inputs'];
      error?: string;
      incident?: string;
      adoptedAfterRestart?: boolean;
    }
  | { type: 'found-running-job'; atMs: number; vm: string; vmUuid: string; host: string };

export class Journal {
  readonly file: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = join(stateDir, 'journal.jsonl');
  }

  append(entry: JournalEntry): Promise<void> {
    // Serialised so lines never interleave; a failed write is reported, not fatal.
    this.writing = this.writing.then(async () => {
      await mkdir(join(this.file, '..'), { recursive: true });
      await appendFile(this.file, JSON.stringify(entry) + '\n');
    });
    return this.writing;
  }

  async read(): Promise<JournalEntry[]> {
    await this.writing.catch(() => {});
    return readJournal(this.file);
  }
}

export type MoveHistory = { lastMovedAtMs: Record<string, number>; recentMoves: { vmUuid: string; from: string; to: string; atMs: number }[]; recentFailures: RecentFailure[] };

/** Completed and failed moves, for cooldown, anti-ping-pong and retry delays after a restart. */
export function moveHistory(entries: readonly JournalEntry[]): MoveHistory {
  const lastMovedAtMs: Record<string, number> = {};
  const recentMoves: MoveHistory['recentMoves'] = [];
  const recentFailures: RecentFailure[] = [];
  for (const e of entries) {
    if (e.type !== 'outcome') continue;
    if (e.outcome !== 'completed') {
      recentFailures.push({ vmUuid: e.vmUuid, from: e.from, to: e.to, atMs: e.atMs, outcome: e.outcome, error: e.error });
      continue;
    }
    lastMovedAtMs[e.vmUuid] = e.atMs;
    recentMoves.push({ vmUuid: e.vmUuid, from: e.from, to: e.to, atMs: e.atMs });
  }
  return { lastMovedAtMs, recentMoves: recentMoves.slice(-500), recentFailures: recentFailures.slice(-500) };
}

/** Bytes and elapsed time of completed migrations per pair of hosts, oldest first (link bandwidth). */
export function linkObservations(entries: readonly JournalEntry[]): LinkObservation[] {
  const observations: LinkObservation[] = [];
  for (const e of entries) {
    if (e.type === 'outcome' && e.outcome === 'completed' && e.bytes !== undefined && e.totalMs !== undefined) observations.push({ from: e.from, to: e.to, bytes: e.bytes, seconds: e.totalMs / 1000 });
  }
  return observations;
}

/** Completed moves with a prediction, for calibrating the cost model (policy/calibration.ts). */
export function calibrationSamples(entries: readonly JournalEntry[]): CalibrationSample[] {
  const samples: CalibrationSample[] = [];
  for (const e of entries) {
    if (e.type !== 'outcome' || e.outcome !== 'completed' || e.totalMs === undefined || !e.predicted || e.adoptedAfterRestart) continue;
    samples.push({ from: e.from, to: e.to, technique: e.technique, predictedSeconds: e.predicted.totalSeconds, actualSeconds: e.totalMs / 1000, predictedDowntimeMs: e.predicted.downtimeMs, actualDowntimeMs: e.downtimeMs });
  }
  return samples;
}

export interface RecentFailure {
  vmUuid: string;
  from: string;
  to: string;
  atMs: number;
  outcome: string;
  error?: string;
}

/** A migration the journal says we started and never saw end: what a restarted controller adopts. */
export interface UnfinishedStart {
  vm: string;
  vmUuid: string;
  from: string;
  to: string;
  technique: string;
  startedAtMs: number;
  predicted?: Prediction;
  /** The deadline the run that started it applied (absent in older journals: migration.deadlineSeconds). */
  deadlineSeconds?: number;
}

/** 'started' entries with no later 'outcome' for the same VM (the controller died in between). */
export function unfinishedStarts(entries: readonly JournalEntry[]): Map<string, UnfinishedStart> {
  const open = new Map<string, UnfinishedStart>();
  for (const e of entries) {
    if (e.type === 'started') open.set(e.vmUuid, { vm: e.vm, vmUuid: e.vmUuid, from: e.from, to: e.to, technique: e.technique, startedAtMs: e.atMs, predicted: e.predicted, deadlineSeconds: e.deadlineSeconds });
    else if (e.type === 'outcome') open.delete(e.vmUuid);
  }
  return open;
}

export async function readJournal(file: string): Promise<JournalEntry[]> {
  if (!existsSync(file)) return [];
  const entries: JournalEntry[] = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // A torn last line after a crash: skip it rather than lose the rest.
    }
  }
  return entries;
}
