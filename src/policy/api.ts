/**
 * The public policy API: what a custom policy imports (`virt-balancer/policy`). A policy is a
 * plain module that default-exports `definePolicy({...})` and implements any of four extension
 * points (modelled on the Kubernetes scheduling framework and Nova's filters and weighers):
 *
 * - `select`: which VMs are candidates to move this tick, and why.
 * - `filter`: may this VM go to this host? `true`, or a reason string shown in `plan`.
 * - `score`: how good is this host for this VM, 0..1 (weighted in config).
 * - `technique`: narrow the techniques allowed for this VM.
 *
 * Policies never call libvirt; everything they need is in the context. See docs/policies.md.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import type { Technique } from './plan-types.js';

export type { ClusterState, HostObservation, VmObservation, Technique, PolicyConfig };
export { hugepageShortfall, hugepagesNeeded, ordinaryMemoryBytes } from './memory-fit.js';

/** Host load as planned so far this tick (measured load plus/minus moves already planned). */
export interface ProjectedHost {
  /** The host as observed this tick (before any planned move). */
  host: HostObservation;
  /** CPU demand over capacity (0..1+), from the smoothed mean. */
  cpuRatio: number;
  /** CPU demand over capacity from the window's p90 (the cautious view for targets): the p90 of `cpuSeries` as planned so far. */
  cpuRatioP90: number;
  /**
   * The host's CPU window as planned so far, oldest first: its own samples (or its VMs' summed per
   * instant), with each planned move's VM window added or taken out per instant. Undefined when
   * the observation carried only a summary.
   */
  cpuSeries?: number[];
  /** Ordinary (non-hugepage) memory in use, bytes, as planned so far. */
  memoryUsedBytes: number;
  /**
   * Configured memory of the guests placed on the host as planned so far, bytes: every VM there that
   * holds ordinary memory (not hugepage-backed), moves planned this tick and migrations arriving
   * included. The hard limit memoryTotal x memoryOvercommitRatio applies to it.
   */
  placedMemoryBytes: number;
  /** Free hugepages by page size (KiB) as planned so far; undefined when the host's are unknown. */
  freeHugepages?: Map<number, number>;
  /** vCPUs of the VMs placed on the host as planned so far (the capacity filter compares them with cpuCount x cpuOvercommitRatio). */
  vcpus: number;
  /** UUIDs of the VMs placed on the host as planned so far. */
  vmUuids: Set<string>;
}

export interface PolicyContext {
  /** Everything observed this tick (hosts, VMs, migrations in flight, recent moves); not changed by planned moves (see `projected`, `placeOf`). */
  state: ClusterState;
  /** The `policy:` section of the config, defaults filled in (docs/config-reference.md). */
  config: PolicyConfig;
  /** This policy's options from config (`policy.policies[].options`). */
  options: Record<string, unknown>;
  /** Thresholds as ratios (0..1). */
  thresholds: { cpuHigh: number; cpuLow: number; memoryHigh: number; hysteresis: number };
  /** The observed host of this name (as in config), or undefined. */
  host(name: string): HostObservation | undefined;
  /** The observed VM of this UUID, or undefined. */
  vm(uuid: string): VmObservation | undefined;
  /** The host as planned so far this tick (load, memory, vCPUs and VMs with the moves planned before this one), or undefined for an unknown host. */
  projected(hostName: string): ProjectedHost | undefined;
  /** CPU or memory above the high threshold (projected; CPU forecast ahead when policy.forecast is on). */
  overloaded(hostName: string): boolean;
  /**
   * Why the host is a spread source (its CPU or memory this many points above the cluster mean for
   * policy.spread.holdTicks ticks), or undefined when it is not one (or spread balancing is off).
   */
  spreadSource(hostName: string): string | undefined;
  /** The host's CPU ratio forecast policy.forecast.aheadTicks ahead (the smoothed mean when forecasting is off). */
  forecastCpu(hostName: string): number;
  /** VMs observed on a host (grouped once per plan: cheap to call per host). */
  vmsOn(hostName: string): readonly VmObservation[];
  /** Where a VM is as planned so far (its target once a move or migration of it is planned or running). */
  placeOf(vmUuid: string): string | undefined;
  /** A VM's CPU demand as a share of a host's capacity. */
  cpuShare(vm: VmObservation, host: HostObservation): number;
  /**
   * The host's CPU p90 (ratio) as planned so far with the VM added: the p90 of the per-instant sum
   * of the host's and the VM's windows (cluster/window.ts p90WithWindow), never the host's p90 plus
   * the VM's p90. A policy judging a target by its peak asks this.
   */
  cpuP90With(vm: VmObservation, hostName: string): number;
  /**
   * Say once in this plan that a rule cannot be met as asked and what is done instead (Plan.notices;
   * the same message twice is kept once). For what an operator must see, not for every refusal.
   */
  notice(message: string): void;
  /** The time this plan is made at, ms since the epoch (the simulator's clock in `simulate`): use it, not Date.now(). */
  nowMs: number;
}

export interface Candidate {
  /** The VM that should move (from `ctx.state.vms`). */
  vm: VmObservation;
  /** Shown in plan output and logs. */
  reason: string;
  /**
   * Must leave its host whatever the gain (maintenance, a broken rule). A must-move respects only
   * hard limits: filters of policies marked `softFilter` (thresholds) are not asked.
   */
  mustMove?: boolean;
  /**
   * A packing move (policy.goal consolidate), or balance's shedding of idle VMs off a hot host
   * crowded with vCPUs: judged by the policies' filters and scores, not by the objective's gain
   * (packing raises the spread the objective measures; an idle VM's move hardly changes it), and
   * its source need not stay hot. Cooldown, no-ping-pong, retry delays and hard limits apply as to any move; targets
   * are tried fullest first when consolidating, best gain first otherwise. Ignored when mustMove is set.
   */
  pack?: boolean;
}

type MaybePromise<T> = T | Promise<T>;

export interface Policy {
  /** The name config lists it by (`policy.policies[].name`), shown in plan output when it refuses a target. */
  name: string;
  /** One line for humans (check-config, logs). */
  description?: string;
  /**
   * The filter states a preference (a soft limit such as a threshold), not a hard limit: it is
   * skipped for must-moves, which take the least bad target that hard limits allow.
   */
  softFilter?: boolean;
  /** Which VMs should move this tick, and why (a must-move from any policy wins over the same VM named without one). */
  select?(ctx: PolicyContext): MaybePromise<Candidate[]>;
  /** May `vm` go to `host`? `true`, or the reason it may not (shown in `plan` and `place`). Asked only of hosts the core filters let through. */
  filter?(vm: VmObservation, host: HostObservation, ctx: PolicyContext): MaybePromise<true | string>;
  /** How good `host` is for `vm`, 0..1 (higher is better), weighted by `policy.policies[].weight`. */
  score?(vm: VmObservation, host: HostObservation, ctx: PolicyContext): MaybePromise<number>;
  /** Narrow the live-migration techniques allowed for `vm` (return a subset of `allowed`, or undefined to leave them). */
  technique?(vm: VmObservation, allowed: readonly Technique[], ctx: PolicyContext): MaybePromise<readonly Technique[] | undefined>;
  /**
   * The problems with this policy's `options` from config (`policy.policies[].options`), checked
   * when the policy loads (`check-config`, `run`'s start, a reload), so a typo or a bad value is
   * refused before any plan rather than when a hot host first needs it. Synchronous and pure.
   * Each problem is one line that starts with the option's name and says the fix, e.g.
   * `crowdedFactor is "3": it must be a number above 0 (default 3)`; the loader prefixes the
   * config path (`policy.policies[0].options.`). Return [] when the options are fine. A policy
   * without it takes any options unchecked.
   */
  checkOptions?(options: Readonly<Record<string, unknown>>): string[];
}

/**
 * The problem with each option in `options` that is not one of `known` (a typo such as
 * `crowdedfactor`), naming the ones that are: for a policy's checkOptions.
 */
export function unknownOptionProblems(options: Readonly<Record<string, unknown>>, known: readonly string[]): string[] {
  return Object.keys(options)
    .filter((k) => !known.includes(k))
    .map((k) =>
      known.length === 0
        ? `${k}: this policy takes no options (remove it)`
        : `${k}: not an option of this policy (its options: ${known.join(', ')}); check the spelling`,
    );
}

/** Identity with type checking, and a check that the object is a usable policy. */
export function definePolicy<P extends Policy>(policy: P): P {
  if (!policy || typeof policy.name !== 'string' || policy.name.length === 0) throw new Error('definePolicy: a policy needs a non-empty name');
  for (const point of ['select', 'filter', 'score', 'technique', 'checkOptions'] as const) {
    if (policy[point] !== undefined && typeof policy[point] !== 'function') throw new Error(`definePolicy(${policy.name}): ${point} must be a function`);
  }
  return policy;
}
