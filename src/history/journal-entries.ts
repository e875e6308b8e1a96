/**
 * What the journal holds: its entry types (one JSON object a line in <stateDir>/journal.jsonl) and
 * what a line must have to be read as one. Written by journal-writer.ts, read and replayed by
 * journal-reader.ts.
 */
import type { Move, Prediction } from '../policy/plan-types.js';

/** What every entry about one move says: when, which VM, from and to which host, by which technique. */
interface MoveEntryFields {
  atMs: number;
  vm: string;
  vmUuid: string;
  from: string;
  to: string;
  technique: string;
}

export type JournalEntry =
  | (MoveEntryFields & { type: 'planned'; reason: string; predicted: unknown; dryRun: boolean })
  | { type: 'rejected'; atMs: number; vm: string; vmUuid: string; from: string; to: string; reason: string }
  | (MoveEntryFields & { type: 'started'; predicted?: Prediction; deadlineSeconds?: number })
  | { type: 'adapted'; atMs: number; vm: string; vmUuid: string; action: string; detail: string }
  | (MoveEntryFields & {
      type: 'outcome';
      outcome: string;
      /** libvirt's figures for the job (completed-job stats): elapsed, downtime, bytes, pre-copy passes, dirty rate seen. */
      totalMs?: number;
      downtimeMs?: number;
      bytes?: number;
      iterations?: number;
      jobDirtyRateMiBps?: number;
      /** The guest's memory that was not zero pages (libvirt's memory_total less memory_constant pages), bytes. */
      nonzeroMemoryBytes?: number;
      predicted?: Prediction;
      /** What the prediction assumed: memory, dirty rate, bandwidth, downtime budget. */
      inputs?: Move['inputs'];
      error?: string;
      incident?: string;
      adoptedAfterRestart?: boolean;
      /** The stream was encrypted (VIR_MIGRATE_TLS); absent in journals written before migration.tls. */
      tls?: boolean;
    })
  | { type: 'found-running-job'; atMs: number; vm: string; vmUuid: string; host: string }
  /** A planned move recorded to wait for approval (policy.automation manual or partial). */
  | (MoveEntryFields & { type: 'recommended'; id: string; kind: 'must-move' | 'balancing'; reason: string; expiresAtMs: number })
  /** An operator's approval of a recommendation: `executed` with the migration's outcome, or `refused` with what changed. */
  | {
      type: 'approval';
      atMs: number;
      id: string;
      by: string;
      vm: string;
      vmUuid: string;
      from: string;
      to: string;
      decision: 'executed' | 'refused';
      outcome?: string;
      detail?: string;
    }
  /** A recommendation nobody approved in time (policy.recommendationExpirySeconds), or replaced by a later plan's. */
  | { type: 'recommendation-ended'; atMs: number; id: string; vm: string; vmUuid: string; from: string; to: string; status: 'expired' | 'superseded' }
  /** A power action on a host consolidation emptied (config power:, src/power/): its decision and each step of its course. */
  | PowerJournalEntry
  /** A step of a rolling maintenance (`virt-balancer maintenance`, controller/workflows/maintenance.ts). */
  | MaintenanceJournalEntry;

/** The steps each host of a roll goes through, in order (`return` only when the roll returns VMs). */
export const MAINTENANCE_STEPS = ['drain', 'hook', 'healthy', 'return'] as const;
export type MaintenanceStep = (typeof MAINTENANCE_STEPS)[number];

/**
 * One event of a rolling maintenance, all sharing the roll's `rollId`. `roll-started` names the
 * hosts in order and whether VMs return; each step of each host is `step-started`, then
 * `step-done` or `step-failed` (with `code`); the roll ends `roll-finished`, `roll-stopped` (a
 * step failed: `code`, `detail`; a re-run resumes it) or `roll-abandoned` (`maintenance --fresh`).
 * What a restarted `maintenance` resumes from (maintenance-roll.ts).
 */
export interface MaintenanceJournalEntry {
  type: 'maintenance';
  atMs: number;
  rollId: string;
  event: 'roll-started' | 'step-started' | 'step-done' | 'step-failed' | 'roll-finished' | 'roll-stopped' | 'roll-abandoned';
  /** roll-started: the hosts in the order they are rolled. */
  hosts?: string[];
  /** roll-started: the VMs go back to their host after it (`return` steps). */
  returnVms?: boolean;
  /** roll-started: the hook's argv as configured (before placeholders), absent when none. */
  hook?: string[];
  host?: string;
  step?: MaintenanceStep;
  /** drain step-started: the VMs the host had before its drain (the ones a `return` step moves back). */
  residents?: { name: string; uuid: string }[];
  /** step-failed, roll-stopped: why, as a code (MaintenanceStopCode). */
  code?: string;
  /** What happened, for the person: a failure's reason, a hook's outcome. */
  detail?: string;
  /** hook step-done / step-failed: the hook's exit status (null: killed), and the ends of its output. */
  exitCode?: number | null;
  stdoutTail?: string;
  stderrTail?: string;
  /** step-done / step-failed: how long the step took, s. */
  seconds?: number;
  /** drain / return step-done: the VMs moved. */
  moved?: string[];
}

/**
 * One step of a power action. `recommended`: planned, not done (policy.automation, or a dry run);
 * `requested`: the command or libvirt call is running; `ran`: it succeeded (exit 0), the host's
 * answer (or not) is still awaited; `done`: the host stopped answering
 * (power-off) or answers again (power-on); `failed`: the action or the wait for it failed.
 */
export interface PowerJournalEntry {
  type: 'power';
  atMs: number;
  host: string;
  action: 'power-off' | 'power-on';
  event: 'recommended' | 'requested' | 'ran' | 'done' | 'failed';
  method: 'command' | 'node-suspend' | 'none';
  reason?: string;
  /** Why it failed, or what else happened (e.g. woken by its alarm). */
  detail?: string;
  /** `recommended`: the command the operator would run (expanded, shell-quoted). */
  command?: string;
  /** The command's exit status and the end of its stderr. */
  exitCode?: number | null;
  stderr?: string;
  /** Seconds from the request to done / failed. */
  seconds?: number;
  dryRun?: boolean;
  /** What the host offered when it was powered down (a restarted controller cannot read a host in standby). */
  capacity?: { cpuCount: number; memoryTotalBytes: number };
}

const ENTRY_TYPES = new Set(['planned', 'rejected', 'started', 'adapted', 'outcome', 'found-running-job', 'recommended', 'approval', 'recommendation-ended']);

/** What a line must have for the readers of the journal to use it safely. */
export function isEntry(value: unknown): value is JournalEntry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  if (e.type === 'maintenance') return typeof e.atMs === 'number' && typeof e.rollId === 'string' && typeof e.event === 'string';
  if (e.type === 'power')
    return (
      typeof e.atMs === 'number' &&
      typeof e.host === 'string' &&
      (e.action === 'power-off' || e.action === 'power-on') &&
      ['recommended', 'requested', 'ran', 'done', 'failed'].includes(e.event as string)
    );
  if (!ENTRY_TYPES.has(e.type as string) || typeof e.atMs !== 'number' || typeof e.vm !== 'string' || typeof e.vmUuid !== 'string') return false;
  if (e.type === 'adapted' || e.type === 'found-running-job') return true;
  return typeof e.from === 'string' && typeof e.to === 'string';
}
