/**
 * Judging every host as a target for one VM, with the limits and policies balancing uses: the
 * engine's hard limits (host up, not in maintenance, memory with its overcommit ratio, hugepages,
 * vCPU overcommit), then every policy's filter (soft filters skipped for a must-move, as in the
 * engine), then the weighted policy scores. Used by `virt-balancer place` (a VM not yet created)
 * and by `approve` (is a recommended target still acceptable now?). Touches no network.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import { policySchema, type PolicyConfig } from '../config/policy-schema.js';
import type { PolicyContext, ProjectedHost } from './api.js';
import { defaultPolicies, type LoadedPolicy } from './loader.js';
import { freeHugepagesOf, hugepageShortfall, ordinaryMemoryBytes } from './memory-fit.js';

/** One host's verdict for the VM. */
export interface HostVerdict {
  host: string;
  accepted: boolean;
  /** Why it was refused, naming the limit or the policy (`capacity: ...`). */
  reason?: string;
  /** Weighted policy score 0..1 (accepted hosts only); higher is better. */
  score?: number;
  /** Host CPU ratio (0..1+) and memory ratio (of memory offered to guests) with the VM placed there. */
  cpuAfterRatio: number;
  memoryAfterRatio: number;
}

export interface JudgeOptions {
  policies?: LoadedPolicy[];
  config?: PolicyConfig;
  /** Judge as a must-move: policies' soft filters (thresholds) are not asked. Default false. */
  mustMove?: boolean;
  /** Host labels the VM requires (every key=value must be on the host's `labels`). */
  requiredLabels?: Record<string, string>;
  /**
   * Guest CPU model of a VM not yet running (`place --cpu-model`): a host of that model passes;
   * another passes when its CPU has every feature of a host of that model (the cpu-compat
   * policy's rule, with such a host standing in for the source).
   */
  cpuModel?: string;
  nowMs?: number;
}

const MiB = 2 ** 20;
const DEFAULT_CONFIG: PolicyConfig = policySchema.parse({});

/**
 * Every host but the VM's own, best first: accepted hosts by score, ties by the lower weighted
 * load after placing (CPU and memory as weighted in policy.objective), then refused hosts with
 * their reasons. A policy that throws or returns something other than `true` or a reason refuses
 * the host with that said.
 */
export async function judgeTargets(vm: VmObservation, observed: ClusterState, options: JudgeOptions = {}): Promise<HostVerdict[]> {
  // A VM not yet created is added to what policies see, so rules naming it (affinity groups) apply.
  const state = observed.vms.some((v) => v.uuid === vm.uuid) ? observed : { ...observed, vms: [...observed.vms, vm] };
  const config = options.config ?? DEFAULT_CONFIG;
  const policies = options.policies ?? defaultPolicies(config);
  const nowMs = options.nowMs ?? state.observedAtMs;
  const hostsByName = new Map(state.hosts.map((h) => [h.name, h]));
  const vmsByUuid = new Map(state.vms.map((v) => [v.uuid, v]));
  const vmsByHost = new Map<string, VmObservation[]>();
  for (const v of state.vms) if (v.host) vmsByHost.set(v.host, [...(vmsByHost.get(v.host) ?? []), v]);
  const placement = new Map(state.vms.map((v) => [v.uuid, v.host]));
  const cpuShare = (v: VmObservation, host: HostObservation) => (host.cpuCount > 0 ? (v.cpuUtilization.mean * v.vcpus) / host.cpuCount : 0);
  const projected = new Map<string, ProjectedHost>();
  for (const host of state.hosts) {
    const vms = vmsByHost.get(host.name) ?? [];
    projected.set(host.name, {
      host,
      cpuRatio: host.cpuUtilization.mean,
      cpuRatioP90: Math.max(host.cpuUtilization.p90, host.cpuUtilization.mean),
      memoryUsedBytes: host.memoryUsedBytes,
      freeHugepages: freeHugepagesOf(host),
      vcpus: vms.reduce((sum, v) => sum + v.vcpus, 0),
      vmUuids: new Set(vms.map((v) => v.uuid)),
    });
  }
  // Migrations under way count as done, as in the engine: their vCPUs and CPU are the target's.
  for (const m of state.inFlight) {
    const moving = vmsByUuid.get(m.vmUuid);
    const source = moving && projected.get(moving.host);
    const target = projected.get(m.to);
    if (!moving || !source || !target || source === target) continue;
    source.cpuRatio -= cpuShare(moving, source.host);
    target.cpuRatio += cpuShare(moving, target.host);
    target.cpuRatioP90 += cpuShare(moving, target.host);
    target.vcpus += moving.vcpus;
    placement.set(moving.uuid, m.to);
  }
  const thresholds = {
    cpuHigh: config.cpuHighPercent / 100,
    cpuLow: config.cpuLowPercent / 100,
    memoryHigh: config.memoryHighPercent / 100,
    hysteresis: config.hysteresisPercent / 100,
  };
  const context = (loaded: LoadedPolicy): PolicyContext => ({
    state,
    config,
    options: loaded.options,
    thresholds,
    host: (name) => hostsByName.get(name),
    vm: (uuid) => (uuid === vm.uuid ? vm : vmsByUuid.get(uuid)),
    projected: (name) => projected.get(name),
    overloaded: (name) => {
      const p = projected.get(name);
      return Boolean(
        p?.host.up && (p.cpuRatio > thresholds.cpuHigh || (p.host.memoryTotalBytes > 0 && p.memoryUsedBytes / p.host.memoryTotalBytes > thresholds.memoryHigh)),
      );
    },
    spreadSource: () => undefined,
    forecastCpu: (name) => projected.get(name)?.cpuRatio ?? 0,
    vmsOn: (name) => vmsByHost.get(name) ?? [],
    placeOf: (uuid) => placement.get(uuid),
    cpuShare,
    nowMs,
  });
  const contexts = new Map(policies.map((p) => [p, context(p)]));
  const { cpuWeight, memoryWeight } = config.objective;

  const verdicts: HostVerdict[] = [];
  for (const host of state.hosts) {
    if (host.name === vm.host) continue;
    const p = projected.get(host.name)!;
    const cpuAfterRatio = p.cpuRatio + cpuShare(vm, host);
    const memoryAfterRatio = host.memoryTotalBytes > 0 ? (p.memoryUsedBytes + ordinaryMemoryBytes(vm)) / host.memoryTotalBytes : Infinity;
    const refuse = (reason: string) => verdicts.push({ host: host.name, accepted: false, reason, cpuAfterRatio, memoryAfterRatio });
    const limit = hardLimit(vm, host, p, options, state.hosts);
    if (limit) {
      refuse(limit);
      continue;
    }
    let rejected: string | undefined;
    let weighted = 0;
    let weightSum = 0;
    for (const loaded of policies) {
      if (!loaded.policy.filter || (options.mustMove && loaded.policy.softFilter)) continue;
      const verdict = await ask(() => loaded.policy.filter!(vm, host, contexts.get(loaded)!));
      if (verdict !== true) {
        rejected = `${loaded.policy.name}: ${typeof verdict === 'string' && verdict.length > 0 ? verdict : `filter failed (${describe(verdict)})`}`;
        break;
      }
    }
    if (!rejected) {
      for (const loaded of policies) {
        if (!loaded.policy.score || loaded.weight === 0) continue;
        const score = await ask(() => loaded.policy.score!(vm, host, contexts.get(loaded)!));
        if (typeof score !== 'number' || !Number.isFinite(score)) {
          rejected = `${loaded.policy.name}: score failed (${describe(score)})`;
          break;
        }
        weighted += Math.min(1, Math.max(0, score)) * loaded.weight;
        weightSum += loaded.weight;
      }
    }
    if (rejected) {
      refuse(rejected);
      continue;
    }
    verdicts.push({ host: host.name, accepted: true, score: weightSum > 0 ? weighted / weightSum : 0, cpuAfterRatio, memoryAfterRatio });
  }
  const load = (v: HostVerdict) => cpuWeight * v.cpuAfterRatio + memoryWeight * v.memoryAfterRatio;
  const accepted = verdicts.filter((v) => v.accepted).sort((a, b) => b.score! - a.score! || load(a) - load(b) || a.host.localeCompare(b.host));
  return [...accepted, ...verdicts.filter((v) => !v.accepted)];
}

/** The engine's own hard limits (engine.ts checks the same before asking policies), plus labels and CPU model. */
function hardLimit(vm: VmObservation, host: HostObservation, p: ProjectedHost, options: JudgeOptions, hosts: readonly HostObservation[]): string | undefined {
  if (!host.up) return `${host.name} is down${host.downReason ? ` (${host.downReason})` : ''}`;
  if (host.maintenance) return `${host.name} is in maintenance`;
  const memoryLimit = host.memoryTotalBytes * host.memoryOvercommitRatio;
  if (p.memoryUsedBytes + ordinaryMemoryBytes(vm) > memoryLimit) {
    return `${host.name} lacks memory (${Math.max(0, (memoryLimit - p.memoryUsedBytes) / MiB).toFixed(0)} MiB free, ${vm.name} needs ${(ordinaryMemoryBytes(vm) / MiB).toFixed(0)} MiB)`;
  }
  const pagesShort = hugepageShortfall(vm, p);
  if (pagesShort) return pagesShort;
  if (p.vcpus + vm.vcpus > host.cpuCount * host.cpuOvercommitRatio)
    return `${host.name} would exceed its vCPU overcommit (${p.vcpus + vm.vcpus} vCPUs, limit ${host.cpuCount * host.cpuOvercommitRatio})`;
  for (const [key, value] of Object.entries(options.requiredLabels ?? {})) {
    if (host.labels[key] !== value)
      return `${host.name} lacks label ${key}=${value}${host.labels[key] !== undefined ? ` (has ${key}=${host.labels[key]})` : ''}`;
  }
  if (options.cpuModel && host.cpuModel !== options.cpuModel) {
    return cpuModelProblem(options.cpuModel, host, hosts);
  }
  return undefined;
}

/** Why a host whose CPU model differs from the wanted one is refused, or undefined when its features cover a host of that model. */
function cpuModelProblem(model: string, host: HostObservation, hosts: readonly HostObservation[] = []): string | undefined {
  const reference = hosts.find((h) => h.cpuModel === model && h.cpuFeatures);
  if (!reference) return `${host.name} has CPU ${host.cpuModel ?? 'unknown'}, not ${model}, and no host of model ${model} to compare features with`;
  if (!host.cpuFeatures) return `${host.name}'s CPU features are unknown (model ${host.cpuModel ?? 'unknown'}, not ${model})`;
  const missing = reference.cpuFeatures!.filter((f) => !host.cpuFeatures!.includes(f));
  if (missing.length === 0) return undefined;
  return `${host.name} (${host.cpuModel ?? 'unknown CPU'}) lacks CPU features of ${model} (as on ${reference.name}): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`;
}

async function ask<T>(fn: () => T | Promise<T>): Promise<T | Error> {
  try {
    return await fn();
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function describe(value: unknown): string {
  if (value instanceof Error) return `threw: ${value.message}`;
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Options of `newVmObservation`: the VM `place` is asked about. */
export interface NewVm {
  name: string;
  vcpus: number;
  memoryMiB: number;
  /** Expected CPU use as a share of its vCPUs, 0..1 (a new VM has no history). */
  cpuRatio: number;
  cpuModel?: string;
  tags?: string[];
}

/** A VM not yet created, as the model describes observed ones: on no host (host ""), running, disks shared. */
export function newVmObservation(vm: NewVm): VmObservation {
  const bytes = vm.memoryMiB * MiB;
  return {
    name: vm.name,
    uuid: `new:${vm.name}`,
    host: '',
    state: 'running',
    vcpus: vm.vcpus,
    cpuUtilization: { last: vm.cpuRatio, mean: vm.cpuRatio, p90: vm.cpuRatio, samples: 1 },
    memoryBytes: bytes,
    maxMemoryBytes: bytes,
    jobRunning: false,
    disksShared: true,
    localDiskBytes: 0,
    cpuModel: vm.cpuModel,
    tags: vm.tags ?? [],
  };
}
