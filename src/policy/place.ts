/**
 * Judging every host as a target for one VM, with exactly the rules balancing uses: the engine's
 * core filters and every policy's filter and score, through targets.ts `evaluateTargets` (soft
 * filters skipped for a must-move, as in the engine), plus what only a new VM asks for: required
 * host labels and a CPU model. Used by `virt-balancer place` (a VM not yet created) and by
 * `approve` (is a recommended target still acceptable now?). Touches no network.
 */
import { MiB, type ClusterState, type HostObservation, type VmObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import type { LoadedPolicy } from './loader.js';
import { ordinaryMemoryBytes } from './memory-fit.js';
import { DEFAULT_CONFIG } from './planning.js';
import { CORE_FILTERS as CORE_FILTER_LIST } from './core-filters.js';
import { evaluateTargets } from './targets.js';

/** One host's verdict for the VM. */
export interface HostVerdict {
  host: string;
  accepted: boolean;
  /** Why it was refused: a core filter's words, or the refusing policy's name and words (`balance: ...`). */
  reason?: string;
  /** Weighted policy score 0..1 (accepted hosts only); higher is better. */
  score?: number;
  /** Host CPU ratio (0..1+) and memory ratio (of memory offered to guests) with the VM placed there; undefined for a host not observed (down). */
  cpuAfterRatio?: number;
  memoryAfterRatio?: number;
}

export interface JudgeOptions {
  policies?: LoadedPolicy[];
  config?: PolicyConfig;
  /** Judge as a must-move: policies' soft filters (thresholds) are not asked. Default false. */
  mustMove?: boolean;
  /** Host labels the VM requires (every key=value must be on the host's `labels`). */
  requiredLabels?: Record<string, string>;
  /**
   * Guest CPU model of a VM not yet running (`place --cpu-model`): a host passes when it offers
   * every feature of a host of that model (the cpu-compat core filter, hard-limits.ts) or lists
   * the model usable; without a host of that model to compare with, hosts of other models are refused.
   */
  cpuModel?: string;
  nowMs?: number;
}

/**
 * Every host but the VM's own, best first: accepted hosts by score, ties by the lower weighted
 * load after placing (CPU and memory as weighted in policy.objective), then refused hosts with
 * their reasons, in the state's order.
 */
export async function judgeTargets(vm: VmObservation, observed: ClusterState, options: JudgeOptions = {}): Promise<HostVerdict[]> {
  // A VM not yet created is added to what policies see, so rules naming it (affinity groups) apply.
  const state = observed.vms.some((v) => v.uuid === vm.uuid) ? observed : { ...observed, vms: [...observed.vms, vm] };
  const config = options.config ?? DEFAULT_CONFIG;
  const hostsByName = new Map(state.hosts.map((h) => [h.name, h]));
  const evaluations = await evaluateTargets(state, vm, {
    policies: options.policies,
    config,
    nowMs: options.nowMs ?? state.observedAtMs,
    mustMove: options.mustMove,
  });
  const verdicts: HostVerdict[] = [];
  for (const e of evaluations) {
    const host = hostsByName.get(e.host)!;
    const cpuAfterRatio = host.up && host.cpuCount > 0 ? host.cpuUtilization.mean + (vm.cpuUtilization.mean * vm.vcpus) / host.cpuCount : undefined;
    const memoryAfterRatio = host.up && host.memoryTotalBytes > 0 ? (host.memoryUsedBytes + ordinaryMemoryBytes(vm)) / host.memoryTotalBytes : undefined;
    const byCore = !e.accepted && CORE_FILTERS.has(e.refusedBy ?? '');
    // The order the engine's limits come in: core filters, then what a new VM asks, then policies.
    const newVmRefusal = byCore ? undefined : newVmLimit(host, options, state.hosts);
    const reason = newVmRefusal ?? (e.accepted ? undefined : e.reason);
    verdicts.push({
      host: e.host,
      accepted: e.accepted && !newVmRefusal,
      reason,
      score: e.accepted && !newVmRefusal ? e.score : undefined,
      cpuAfterRatio,
      memoryAfterRatio,
    });
  }
  const { cpuWeight, memoryWeight } = config.objective;
  const load = (v: HostVerdict) => cpuWeight * (v.cpuAfterRatio ?? 0) + memoryWeight * (v.memoryAfterRatio ?? 0);
  const accepted = verdicts.filter((v) => v.accepted).sort((a, b) => b.score! - a.score! || load(a) - load(b) || a.host.localeCompare(b.host));
  return [...accepted, ...verdicts.filter((v) => !v.accepted)];
}

/** Core filters (core-filters.ts): their reasons already name the host and the limit; a policy's reason gets its name in front. */
const CORE_FILTERS = new Set(CORE_FILTER_LIST.map((f) => f.name));

/** What only a VM not yet placed asks of a host: its required labels and CPU model. */
function newVmLimit(host: HostObservation, options: JudgeOptions, hosts: readonly HostObservation[]): string | undefined {
  for (const [key, value] of Object.entries(options.requiredLabels ?? {})) {
    if (host.labels[key] !== value)
      return `${host.name} lacks label ${key}=${value}${host.labels[key] !== undefined ? ` (has ${key}=${host.labels[key]})` : ''}`;
  }
  if (options.cpuModel && host.cpuModel !== options.cpuModel) return cpuModelProblem(options.cpuModel, host, hosts);
  return undefined;
}

/**
 * Why a host whose CPU model differs from the wanted one cannot be judged: no host of that model to
 * learn its features from, or the host's own features unknown. Undefined otherwise.
 */
function cpuModelProblem(model: string, host: HostObservation, hosts: readonly HostObservation[] = []): string | undefined {
  const reference = hosts.find((h) => h.cpuModel === model && h.cpuFeatures);
  if (!reference) return `${host.name} has CPU ${host.cpuModel ?? 'unknown'}, not ${model}, and no host of model ${model} to compare features with`;
  if (!host.cpuFeatures) return `${host.name}'s CPU features are unknown (model ${host.cpuModel ?? 'unknown'}, not ${model})`;
  // The features themselves are compared by the cpu-compat core filter (hard-limits.ts), as for every move.
  return undefined;
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
