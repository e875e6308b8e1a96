/** What one move ended as: the shapes every executor phase returns, and the one constructor for failures. */
import type { JournalEntry } from '../history/journal.js';
import { moveIdentity, type Move, type Prediction, type Technique } from '../policy/plan-types.js';

export type Outcome = 'completed' | 'aborted' | 'failed';

/** One sample of a running job, for progress displays. Sizes in bytes, rates in MiB/s. */
export interface MigrationProgress {
  phase: 'precopy' | 'postcopy';
  iteration: number;
  dataProcessedBytes: number;
  dataRemainingBytes: number;
  dataTotalBytes: number;
  percent: number;
  mibps: number;
  dirtyRateMiBps: number;
  etaSeconds?: number;
  elapsedMs: number;
  /** During post-copy under a cap: the background-page limit the cap governor has in force (cap-governor.ts), MiB/s. */
  postcopyLimitMiBps?: number;
}

/** Who moved where, with what, and what was predicted: known before the move starts. */
export interface ResultBase {
  vm: string;
  vmUuid: string;
  from: string;
  to: string;
  technique: Technique;
  predicted: Prediction;
  /** What the prediction assumed (absent for a job adopted from an old journal). */
  inputs?: Move['inputs'];
  startedAtMs: number;
  /** Started by an earlier run of the controller and seen to its end by this one. */
  adoptedAfterRestart?: boolean;
  /** The stream was encrypted (VIR_MIGRATE_TLS); absent: not known (a job adopted after a restart). */
  tls?: boolean;
}

export interface MigrationResult extends ResultBase {
  outcome: Outcome;
  totalMs: number;
  downtimeMs?: number;
  bytes?: number;
  /** Of bytes, what the storage copy sent (libvirt's disk_processed). */
  diskBytes?: number;
  iterations?: number;
  /** Dirty rate libvirt's job stats saw, MiB/s. */
  jobDirtyRateMiBps?: number;
  /**
   * The guest's memory that was not zero pages when it moved, bytes: libvirt's memory_total less
   * its memory_constant pages (vm-on-host.ts completedJobFigures). What the VM's next move must
   * send at least: QEMU sends a zero page as a header only (migration/ram.c save_zero_page).
   */
  nonzeroMemoryBytes?: number;
  switchedToPostcopy: boolean;
  error?: string;
  /** Where the VM was found after a failure, or what went wrong after a post-copy switch. */
  incident?: string;
  endedAtMs: number;
}

/** The fields a move's result starts from. */
export function resultBase(move: Pick<Move, 'vmName' | 'vmUuid' | 'from' | 'to' | 'technique' | 'predicted' | 'inputs'>, startedAtMs: number): ResultBase {
  return {
    ...moveIdentity(move),
    technique: move.technique,
    predicted: move.predicted,
    inputs: move.inputs,
    startedAtMs,
  };
}

/**
 * A move that did not complete. totalMs defaults to the time from the start to now (0 for a move
 * refused before it started: pass `notStarted`).
 */
export function failedResult(
  base: ResultBase,
  fields: {
    error: string;
    incident?: string;
    outcome?: 'failed' | 'aborted';
    iterations?: number;
    switchedToPostcopy?: boolean;
    notStarted?: boolean;
    endedAtMs?: number;
  },
): MigrationResult {
  const endedAtMs = fields.endedAtMs ?? Date.now();
  return {
    ...base,
    outcome: fields.outcome ?? 'failed',
    totalMs: fields.notStarted ? 0 : endedAtMs - base.startedAtMs,
    switchedToPostcopy: fields.switchedToPostcopy ?? false,
    iterations: fields.iterations,
    error: fields.error,
    incident: fields.incident,
    endedAtMs,
  };
}

/**
 * What every report of a result to a person or a program shows (`migrate --json`, webhook events):
 * who moved where and how, its time (ms), downtime (ms) and bytes (null where libvirt gave none),
 * what was predicted, and the error or incident when there is one.
 */
export function resultSummary(r: MigrationResult) {
  return {
    vm: r.vm,
    from: r.from,
    to: r.to,
    technique: r.technique,
    outcome: r.outcome,
    totalMs: r.totalMs,
    downtimeMs: r.downtimeMs ?? null,
    bytes: r.bytes ?? null,
    predicted: { totalSeconds: r.predicted.totalSeconds, downtimeMs: r.predicted.downtimeMs, bytes: r.predicted.bytes },
    ...(r.error ? { error: r.error } : {}),
    ...(r.incident ? { incident: r.incident } : {}),
  };
}

/**
 * The journal's record of a result (history/journal.ts 'outcome'): what the local journal appends
 * and what the HA shared history stores, one shape for both.
 */
export function outcomeEntry(r: MigrationResult): Extract<JournalEntry, { type: 'outcome' }> {
  return {
    type: 'outcome',
    atMs: r.endedAtMs,
    vm: r.vm,
    vmUuid: r.vmUuid,
    from: r.from,
    to: r.to,
    technique: r.technique,
    outcome: r.outcome,
    totalMs: r.totalMs,
    downtimeMs: r.downtimeMs,
    bytes: r.bytes,
    iterations: r.iterations,
    jobDirtyRateMiBps: r.jobDirtyRateMiBps,
    nonzeroMemoryBytes: r.nonzeroMemoryBytes,
    predicted: r.predicted,
    inputs: r.inputs,
    error: r.error,
    incident: r.incident,
    adoptedAfterRestart: r.adoptedAfterRestart,
    tls: r.tls,
  };
}
