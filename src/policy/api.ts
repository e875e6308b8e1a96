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
  host: HostObservation;
  /** CPU demand over capacity (0..1+), from the smoothed mean. */
  cpuRatio: number;
  /** CPU demand over capacity from the window's p90 (the cautious view for targets). */
  cpuRatioP90: number;
  /** Ordinary (non-hugepage) memory in use, bytes, as planned so far. */
  memoryUsedBytes: number;
  /** Free hugepages by page size (KiB) as planned so far; undefined when the host's are unknown. */
  freeHugepages?: Map<number, number>;
  vcpus: number;
  vmUuids: Set<string>;
}

export interface PolicyContext {
  state: ClusterState;
  config: PolicyConfig;
  /** This policy's options from config (`policy.policies[].options`). */
  options: Record<string, unknown>;
  /** Thresholds as ratios (0..1). */
  thresholds: { cpuHigh: number; cpuLow: number; memoryHigh: number; hysteresis: number };
  host(name: string): HostObservation | undefined;
  vm(uuid: string): VmObservation | undefined;
  projected(hostName: string): ProjectedHost | undefined;
  /** CPU or memory above the high threshold (projected). */
  overloaded(hostName: string): boolean;
  /** A VM's CPU demand as a share of a host's capacity. */
  cpuShare(vm: VmObservation, host: HostObservation): number;
  nowMs: number;
}

export interface Candidate {
  vm: VmObservation;
  /** Shown in plan output and logs. */
  reason: string;
  /** Must leave its host whatever the gain (maintenance, broken affinity). */
  mustMove?: boolean;
}

type MaybePromise<T> = T | Promise<T>;

export interface Policy {
  name: string;
  description?: string;
  select?(ctx: PolicyContext): MaybePromise<Candidate[]>;
  filter?(vm: VmObservation, host: HostObservation, ctx: PolicyContext): MaybePromise<true | string>;
  score?(vm: VmObservation, host: HostObservation, ctx: PolicyContext): MaybePromise<number>;
  technique?(vm: VmObservation, allowed: readonly Technique[], ctx: PolicyContext): MaybePromise<readonly Technique[] | undefined>;
}

/** Identity with type checking, and a check that the object is a usable policy. */
export function definePolicy<P extends Policy>(policy: P): P {
  if (!policy || typeof policy.name !== 'string' || policy.name.length === 0) throw new Error('definePolicy: a policy needs a non-empty name');
  for (const point of ['select', 'filter', 'score', 'technique'] as const) {
    if (policy[point] !== undefined && typeof policy[point] !== 'function') throw new Error(`definePolicy(${policy.name}): ${point} must be a function`);
  }
  return policy;
}
