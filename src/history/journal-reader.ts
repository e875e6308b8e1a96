/**
 * Reading the journal back: every entry of a file (`history`, tests), the whole history across a
 * rotation (journal.1.jsonl then journal.jsonl), the planning set read as a stream (start-up,
 * planning), and what replaying entries gives planning (move history, link observations,
 * calibration samples, unfinished starts).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { LinkObservation } from '../cluster/link-bandwidth.js';
import type { CalibrationSample } from '../policy/calibration.js';
import type { Prediction } from '../policy/plan-types.js';
import { isEntry, type JournalEntry } from './journal-entries.js';
import { PlanningSetBuilder } from './planning-set.js';

export type MoveHistory = {
  lastMovedAtMs: Record<string, number>;
  recentMoves: { vmUuid: string; from: string; to: string; atMs: number; durationMs?: number }[];
  recentFailures: RecentFailure[];
};

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
    recentMoves.push({ vmUuid: e.vmUuid, from: e.from, to: e.to, atMs: e.atMs, durationMs: e.totalMs });
  }
  return { lastMovedAtMs, recentMoves: recentMoves.slice(-500), recentFailures: recentFailures.slice(-500) };
}

/** Bytes and elapsed time of completed migrations per pair of hosts, oldest first (link bandwidth). */
export function linkObservations(entries: readonly JournalEntry[]): LinkObservation[] {
  const observations: LinkObservation[] = [];
  for (const e of entries) {
    if (e.type === 'outcome' && e.outcome === 'completed' && e.bytes !== undefined && e.totalMs !== undefined)
      observations.push({ from: e.from, to: e.to, bytes: e.bytes, seconds: e.totalMs / 1000, tls: e.tls === true });
  }
  return observations;
}

/** Completed moves with a prediction, for calibrating the cost model (policy/calibration.ts). */
export function calibrationSamples(entries: readonly JournalEntry[]): CalibrationSample[] {
  const samples: CalibrationSample[] = [];
  for (const e of entries) {
    if (e.type !== 'outcome' || e.outcome !== 'completed' || e.totalMs === undefined || !e.predicted || e.adoptedAfterRestart) continue;
    samples.push(calibrationSampleOf({ ...e, totalMs: e.totalMs, predicted: e.predicted }));
  }
  return samples;
}

/** A completed move's calibration sample: predicted against real time and downtime (journal entries and live outcomes alike). */
export function calibrationSampleOf(r: {
  from: string;
  to: string;
  technique: string;
  predicted: Prediction;
  totalMs: number;
  downtimeMs?: number;
}): CalibrationSample {
  return {
    from: r.from,
    to: r.to,
    technique: r.technique,
    // The model's own figures when calibration had scaled them (Prediction.model).
    predictedSeconds: (r.predicted.model ?? r.predicted).totalSeconds,
    actualSeconds: r.totalMs / 1000,
    predictedDowntimeMs: (r.predicted.model ?? r.predicted).downtimeMs,
    actualDowntimeMs: r.downtimeMs,
  };
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
    if (e.type === 'started')
      open.set(e.vmUuid, {
        vm: e.vm,
        vmUuid: e.vmUuid,
        from: e.from,
        to: e.to,
        technique: e.technique,
        startedAtMs: e.atMs,
        predicted: e.predicted,
        deadlineSeconds: e.deadlineSeconds,
      });
    else if (e.type === 'outcome') open.delete(e.vmUuid);
  }
  return open;
}

/**
 * The planning set (planning-set.ts) of a journal file, read line by line: lines of entry types
 * planning never uses are recognised by their start (`{"type":"planned"`, as JSON.stringify writes
 * an entry) and not parsed. Unreadable lines are skipped and reported as by readJournal.
 */
export async function readPlanningSet(file: string, options: { warn?: (message: string) => void } = {}): Promise<JournalEntry[]> {
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, 'JournalWarning'));
  const builder = new PlanningSetBuilder();
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const opened = new Promise<boolean>((resolve, reject) => {
    stream.once('open', () => resolve(true));
    stream.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? resolve(false) : reject(e)));
  });
  if (!(await opened)) return [];
  let lineNumber = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNumber++;
    if (line.startsWith(TYPE_PREFIX)) {
      const end = line.indexOf('"', TYPE_PREFIX.length);
      if (end > 0 && !PlanningSetBuilder.wants(line.slice(TYPE_PREFIX.length, end))) continue;
    }
    const entry = parseLine(line, `${file}:${lineNumber}`, warn);
    if (entry) builder.add(entry);
  }
  return builder.entries();
}

const TYPE_PREFIX = '{"type":"';

/** One line as an entry; undefined for a blank line, and for one that is not JSON or not an entry (reported through `warn` with `where`, file:line). */
function parseLine(line: string, where: string, warn: (message: string) => void): JournalEntry | undefined {
  if (!line.trim()) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    value = undefined;
  }
  if (isEntry(value)) return value;
  warn(`${where}: skipped an unreadable journal line (${line.length > 60 ? `${line.slice(0, 60)}...` : line})`);
  return undefined;
}

/**
 * Entries of a journal file, oldest first. A line that is not JSON or not an entry (a torn line
 * after a crash, `null`, a hand edit) is skipped and reported through `warn` with the file and
 * line number; it never stops the reader.
 */
export async function readJournal(file: string, options: { warn?: (message: string) => void } = {}): Promise<JournalEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const warn = options.warn ?? ((message: string) => process.emitWarning(message, 'JournalWarning'));
  const entries: JournalEntry[] = [];
  text.split('\n').forEach((line, index) => {
    const entry = parseLine(line, `${file}:${index + 1}`, warn);
    if (entry) entries.push(entry);
  });
  return entries;
}

/** The file a journal is rotated to (journal.jsonl -> journal.1.jsonl; journal-writer.ts keeps one). */
export function journalArchiveOf(file: string): string {
  return file.endsWith('.jsonl') ? `${file.slice(0, -'.jsonl'.length)}.1.jsonl` : `${file}.1`;
}

/**
 * The whole history a journal still holds, oldest first: its archive (journal.1.jsonl, left by the
 * last rotation) and then the journal itself without the entries the rotation carried over from
 * the archive (the planning set at the journal's start, copied line for line). What `history`
 * shows: reading journal.jsonl alone lost everything before the last rotation but the planning set.
 */
export async function readJournalHistory(file: string, options: { warn?: (message: string) => void } = {}): Promise<JournalEntry[]> {
  const archived = await readJournal(journalArchiveOf(file), options);
  const current = await readJournal(file, options);
  if (archived.length === 0) return current;
  const archivedLines = new Set(archived.map((e) => JSON.stringify(e)));
  let carried = 0;
  while (carried < current.length && archivedLines.has(JSON.stringify(current[carried]))) carried++;
  return [...archived, ...current.slice(carried)];
}
