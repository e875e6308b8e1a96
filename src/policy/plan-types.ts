/**
 * What the planner hands the executor: moves with the technique chosen and the prediction it was
 * chosen on. The prediction travels with the move so the executor can record the real figures
 * beside it and report prediction error.
 */

import { TECHNIQUE_NAMES } from '../config/policy-schema.js';

/** Live-migration techniques, by the names the CLI, config, metrics and JSON output use (one list, in config's schema). */
export const TECHNIQUES = TECHNIQUE_NAMES;
export type Technique = (typeof TECHNIQUES)[number];

/**
 * The techniques that never hand the guest's execution to the target before its memory is all
 * there (no post-copy phase): the only ones a paused VM can move by. A post-copy target runs the
 * guest and pulls its pages, and libvirt refuses VIR_MIGRATE_POSTCOPY for a paused domain
 * (libvirt 11.3 qemu_migration.c: peer-to-peer adds VIR_MIGRATE_PAUSED for a paused domain, then
 * "post-copy migration is not supported with non-live or paused migration").
 */
export const PRECOPY_FAMILY = ['precopy', 'xbzrle', 'autoconverge', 'multifd'] as const satisfies readonly Technique[];

/** Moves without a post-copy phase (PRECOPY_FAMILY). */
export function isPrecopyFamily(technique: Technique): boolean {
  return (PRECOPY_FAMILY as readonly Technique[]).includes(technique);
}

export interface Prediction {
  /** Predicted wall time from start to the VM running on the target, seconds. */
  totalSeconds: number;
  /** Predicted time the guest is paused (stop-and-copy), milliseconds. */
  downtimeMs: number;
  /** Predicted bytes sent over the migration stream (memory plus storage copy). */
  bytes: number;
  /** Pre-copy style techniques: predicted number of iterations; undefined when not meaningful. */
  iterations?: number;
  /** False when the model says the technique will not converge within the downtime budget. */
  converges: boolean;
  /**
   * The cost model's time and downtime before calibration scaled them, when it did. Calibration
   * learns real / model from these: learning from the scaled figures would pull every factor back
   * towards 1 (a pair running 1.5x slow, predicted right once scaled, would teach 1.0 next).
   */
  model?: { totalSeconds: number; downtimeMs: number };
}

/**
 * How every record names a move (journal entries, webhook bodies, results, fencing requests):
 * `{ vm, vmUuid, from, to }` from a Move's `vmName`, `vmUuid`, `from`, `to`. One mapping, so the
 * records cannot drift apart in what they call the VM and its hosts.
 */
export function moveIdentity(move: Pick<Move, 'vmName' | 'vmUuid' | 'from' | 'to'>): { vm: string; vmUuid: string; from: string; to: string } {
  return { vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to };
}

export interface Move {
  vmName: string;
  vmUuid: string;
  from: string;
  to: string;
  technique: Technique;
  /** Copy non-shared disks to the target (libvirt VIR_MIGRATE_NON_SHARED_DISK). */
  copyStorage: boolean;
  predicted: Prediction;
  /** Human-readable reason: which policy wanted it and the gain it buys. */
  reason: string;
  /** Predicted reduction of the engine's objective (src/policy/objective.ts: weighted spread and hot-spot excess of CPU and memory); positive is better. */
  gain: number;
  /**
   * Must leave its host whatever the gain: a maintenance drain or a rule repair (a policy's
   * select marked it mustMove). With policy.automation `partial` these run without approval.
   */
  mustMove?: boolean;
  /** A make-room move (policy/make-room.ts): the UUID of the VM leaving a host in maintenance it makes room for. */
  makesRoomFor?: string;
  /**
   * The VM's own automation level (a per-VM override: metadata tag automation:LEVEL or
   * policy.vmOverrides), which replaces policy.automation for this move; absent when it has none.
   */
  automation?: 'manual' | 'partial' | 'full';
  /** Inputs the technique choice used, so outcomes can be compared with them. */
  inputs: {
    memoryBytes: number;
    dirtyRateMiBps: number;
    bandwidthMiBps: number;
    /** The bandwidth is what recent migrations between the two hosts achieved, not the configured guess. */
    bandwidthMeasured?: boolean;
    downtimeBudgetMs: number;
  };
}

export interface SkippedVm {
  vmName: string;
  vmUuid?: string;
  reason: string;
}

export interface Plan {
  /** When the state this plan was made from was observed (ms since epoch). */
  basedOnObservedAtMs: number;
  moves: Move[];
  skipped: SkippedVm[];
  /** Imbalance of the cluster before and after the planned moves (same measure as the metric). */
  imbalanceBefore: number;
  imbalanceAfter: number;
  /** The engine's objective (src/policy/objective.ts) before and after the planned moves. */
  objectiveBefore?: number;
  objectiveAfter?: number;
  /**
   * What cannot be done as the rules ask, each said once: a rule no host can meet (an affinity
   * group no single host can hold, moved as a best effort), VMs that must leave with nowhere to go
   * (every host in maintenance). `source` is the policy that said it, or "engine".
   */
  notices?: { source: string; message: string }[];
  /**
   * Failover headroom (policy.headroom) before the planned moves: `shortfall` says why the cluster
   * lacks it, undefined when it has it. Absent when no headroom is configured.
   */
  headroom?: { hostFailures: number; shortfall?: string };
  /** Problems with policies this tick (threw, timed out, returned garbage), by name. */
  policyErrors: { policy: string; vm?: string; host?: string; message: string }[];
  /**
   * Policy calls that ran past policy.policyTimeoutMs (also in policyErrors). Not empty means the
   * plan is incomplete: what those calls would have nominated or allowed is missing from it, so
   * "no moves" does not mean nothing needs moving. Absent in plans made before it existed.
   */
  timeouts?: { policy: string; point: 'select' | 'filter' | 'score' | 'technique'; vm?: string; host?: string; timeoutMs: number; message: string }[];
  /** Time spent in each policy's extension points during this plan (calls, total ms). */
  policyTimings?: { policy: string; point: 'select' | 'filter' | 'score' | 'technique'; calls: number; ms: number }[];
}
