/**
 * Hard feasibility of a target: what a host must offer for a VM to run there at all, whatever the
 * load, the objective or config's policies say. The core filters (core-filters.ts) ask these for
 * every target of every move (balancing, must-moves, relief, consolidation, `place`, the simulator,
 * `approve`'s re-check) and `migrate` asks them for the operator's target. Each refusal names the
 * VM, the host, the limit and the numbers. docs/policies.md "Hard limits" describes each.
 *
 * Sources: a VM's vCPUs and pinning come from its domain XML (`<vcpu>`, `<cputune><vcpupin
 * cpuset>`, `<numatune>`); a host's logical CPUs and NUMA cells from its capabilities
 * (virConnectGetCapabilities `<host><topology><cells>`); its CPU models and features from its
 * domain capabilities (virConnectGetDomainCapabilities: `<mode name='custom'>` models with
 * usable='yes', and the host-model CPU expanded to every feature with
 * virConnectBaselineHypervisorCPU and VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES).
 */
import type { HostObservation, VmObservation } from '../cluster/model.js';
import type { ProjectedHost } from './api.js';
import { formatVersion } from './capabilities.js';
import { ordinaryMemoryBytes } from './memory-fit.js';

const MiB = 2 ** 20;

/** A VM may not have more vCPUs than the target has logical CPUs (its vCPUs would time-share one CPU). */
export function vcpusRefusal(vm: VmObservation, target: HostObservation): string | undefined {
  if (vm.vcpus <= target.cpuCount) return undefined;
  return `${vm.name} has ${vm.vcpus} vCPUs, more than the ${target.cpuCount} logical CPUs of ${target.name} (limit: a VM's vCPUs <= the target's CPUs)`;
}

/**
 * Guest memory placed on the target (the configured memory of every VM that holds memory there,
 * moves planned earlier in this plan and migrations under way included) plus this VM's may not
 * exceed memoryTotal x memoryOvercommitRatio, whatever the host's node statistics say is in use
 * (guests that use little of their memory now may use all of it later).
 */
export function placedMemoryRefusal(vm: VmObservation, target: HostObservation, projected: ProjectedHost): string | undefined {
  const needs = ordinaryMemoryBytes(vm);
  if (needs === 0) return undefined;
  const limit = target.memoryTotalBytes * target.memoryOvercommitRatio;
  if (projected.placedMemoryBytes + needs <= limit) return undefined;
  const mib = (b: number) => (b / MiB).toFixed(0);
  return `${target.name} would hold ${mib(projected.placedMemoryBytes + needs)} MiB of guest memory with ${vm.name} (${mib(needs)} MiB; ${mib(projected.placedMemoryBytes)} MiB placed), above its limit ${mib(limit)} MiB (memory ${mib(target.memoryTotalBytes)} MiB x memoryOvercommitRatio ${target.memoryOvercommitRatio})`;
}

/** "0-3,8" from [0, 1, 2, 3, 8]. */
export function formatCpuSet(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j;
  }
  return parts.join(',');
}

/** The target's logical CPU ids and NUMA cell ids: from its capabilities, else 0..cpuCount-1 and one cell 0. */
function topologyOf(target: HostObservation): { cpuIds: number[]; cellIds: number[] } {
  if (target.topology) return { cpuIds: target.topology.cells.flatMap((c) => c.cpuIds), cellIds: target.topology.cells.map((c) => c.id) };
  return { cpuIds: Array.from({ length: target.cpuCount }, (_, i) => i), cellIds: [0] };
}

/**
 * A VM pinned to host CPUs (`<cputune><vcpupin cpuset>`, `<emulatorpin>`, `<iothreadpin>`, `<vcpu
 * cpuset>`) or its memory to NUMA nodes (`<numatune><memory nodeset>`, `<memnode nodeset>`) needs a
 * target that has those CPUs and nodes: libvirt applies the same cpusets on the target, and QEMU
 * fails to start there (or the migration's finish fails) when they do not exist.
 */
export function topologyRefusal(vm: VmObservation, target: HostObservation): string | undefined {
  const { cpuIds, cellIds } = topologyOf(target);
  if (vm.pinnedHostCpus && vm.pinnedHostCpus.length > 0) {
    const have = new Set(cpuIds);
    const missing = vm.pinnedHostCpus.filter((c) => !have.has(c));
    if (missing.length > 0)
      return `${vm.name} is pinned to host CPUs ${formatCpuSet(vm.pinnedHostCpus)} (<cputune> vcpupin/emulatorpin or <vcpu cpuset>); ${target.name} has CPUs ${formatCpuSet(cpuIds)}, not ${formatCpuSet(missing)}`;
  }
  if (vm.numaNodeset && vm.numaNodeset.length > 0) {
    const have = new Set(cellIds);
    const missing = vm.numaNodeset.filter((n) => !have.has(n));
    if (missing.length > 0)
      return `${vm.name} binds its memory to NUMA nodes ${formatCpuSet(vm.numaNodeset)} (<numatune> nodeset); ${target.name} has NUMA nodes ${formatCpuSet(cellIds)}, not ${formatCpuSet(missing)}`;
  }
  return undefined;
}

/**
 * CPU compatibility by features, never by model name alone. What the guest CPU needs:
 *
 * - a named model (`<cpu mode='custom'><model>`; a running host-model guest's live XML names its
 *   expanded model too) must run on the target: libvirt's domain capabilities list each model
 *   usable='yes', or 'no' with the features that block it (`cpuModelBlockers`), and a guest that
 *   disables every blocker still runs. Where those are unknown (the simulator), the model's
 *   features are those of a host of that model (the source when it is one), else the source's.
 * - host-passthrough, or no model where the host CPU is what the guest gets: every feature of the
 *   source's CPU.
 * - every feature the domain XML requires (policy require or force).
 *
 * The target must offer every needed feature. So an equal model name with a feature missing is
 * refused, and an older model on a newer host that has its features passes. Unknown target
 * features pass: libvirt compares the CPU again when the migration starts and fails cleanly,
 * leaving the VM on its source.
 */
export function cpuRefusal(
  vm: VmObservation,
  source: HostObservation | undefined,
  observedTarget: HostObservation,
  hosts: readonly HostObservation[],
): string | undefined {
  const target = cpuView(observedTarget, vm);
  source = source && cpuView(source, vm);
  if (!target.cpuFeatures) return undefined;
  const disabled = new Set(vm.cpuDisabledFeatures ?? []);
  const needs = new Set((vm.cpuRequiredFeatures ?? []).filter((f) => !disabled.has(f)));
  const model = vm.cpuMode !== 'host-passthrough' && vm.cpuMode !== 'none' ? vm.cpuModel : undefined;
  let what: string;
  if (model) {
    what = `CPU model ${model}`;
    if (target.cpuModelBlockers) {
      const blockers = target.cpuModelBlockers[model];
      if (!blockers)
        return `${target.name} cannot run ${vm.name}'s CPU model ${model}: its domain capabilities do not list it (host CPU ${target.cpuModel ?? 'unknown'})`;
      const blocking = blockers.filter((f) => !disabled.has(f));
      if (blocking.length > 0)
        return `${target.name} cannot run ${vm.name}'s CPU model ${model}: it lacks ${blocking.slice(0, 6).join(', ')}${blocking.length > 6 ? `, ... (${blocking.length} in all)` : ''} (its domain capabilities' blockers), which the guest does not disable (host CPU ${target.cpuModel ?? 'unknown'})`;
    } else {
      const reference =
        source?.cpuModel === model && source.cpuFeatures ? source : hosts.find((h) => h.cpuModel === model && h.cpuFeatures && h.name !== target.name);
      // No host of that model to learn its features from: the source's CPU, as for host-model.
      const features = reference ?? source;
      for (const f of features?.cpuFeatures ?? []) if (!disabled.has(f)) needs.add(f);
      if (features) what += ` (its features as on ${features.name})`;
    }
  } else if (vm.cpuMode === 'none') {
    // No <cpu> element: the hypervisor's default model, which every host of the cluster runs.
    what = 'default CPU';
  } else {
    for (const f of source?.cpuFeatures ?? []) needs.add(f);
    what = `${vm.cpuMode === 'host-passthrough' ? 'host-passthrough ' : ''}CPU of ${source?.name ?? 'its host'}`;
  }
  const offered = new Set(target.cpuFeatures);
  const missing = [...needs].filter((f) => !offered.has(f)).sort();
  if (missing.length === 0) return undefined;
  const shown = missing.slice(0, 6).join(', ') + (missing.length > 6 ? `, ... (${missing.length} in all)` : '');
  return `${target.name} (${target.cpuModel ?? 'unknown CPU'}) lacks ${missing.length} of the ${needs.size} CPU features ${vm.name}'s ${what} needs: ${shown}`;
}

/** A host's CPU as a guest of the VM's domain type sees it (HostObservation.cpuByDomainType), else its default view. */
function cpuView(host: HostObservation, vm: VmObservation): HostObservation {
  const view = vm.domainType ? host.cpuByDomainType?.[vm.domainType] : undefined;
  return view ? { ...host, cpuModel: view.model, cpuFeatures: view.features, cpuModelBlockers: view.modelBlockers } : host;
}

/**
 * When the version rule applies to a move (policy.versionMonotonic): `always`, or `maintenance`
 * (default) when the VM leaves a host in maintenance (a drain, a rolling upgrade), where a VM sent
 * to a host not yet upgraded would have to move again, and may not run there at all: QEMU refuses
 * an incoming stream from a newer machine type or device state it does not know (oVirt and Ganeti
 * never move a VM to an older hypervisor during an upgrade).
 */
export function versionRuleApplies(source: HostObservation | undefined, mode: 'maintenance' | 'always'): boolean {
  return source !== undefined && (mode === 'always' || source.maintenance);
}

/**
 * A VM never moves to a host whose libvirt or QEMU is older than its source's (versions as the
 * daemons report them at connect: virConnectGetLibVersion, virConnectGetVersion). An unknown
 * version on either end passes (the simulator has none; a live daemon reports both).
 */
export function versionRefusal(vm: VmObservation, source: HostObservation, target: HostObservation): string | undefined {
  const older = (what: string, from: number | undefined, to: number | undefined) =>
    from !== undefined && to !== undefined && to < from
      ? `${target.name} runs ${what} ${formatVersion(to)}, older than ${source.name}'s ${what} ${formatVersion(from)} where ${vm.name} runs (version-monotonic moves${source.maintenance ? ': always during maintenance' : ': policy.versionMonotonic always'})`
      : undefined;
  return older('libvirt', source.libvirtVersion, target.libvirtVersion) ?? older('QEMU', source.hypervisorVersion, target.hypervisorVersion);
}

/**
 * Every hard limit for one target, in order; the first refusal, or undefined when the target can
 * run the VM. `versionMonotonic` (policy.versionMonotonic) adds the version rule where it applies.
 */
export function hardLimitRefusal(
  vm: VmObservation,
  source: HostObservation | undefined,
  target: HostObservation,
  hosts: readonly HostObservation[],
  versionMonotonic?: 'maintenance' | 'always',
): { limit: 'vcpus' | 'cpu-topology' | 'cpu-compat' | 'version-monotonic'; reason: string } | undefined {
  const vcpus = vcpusRefusal(vm, target);
  if (vcpus) return { limit: 'vcpus', reason: vcpus };
  const topology = topologyRefusal(vm, target);
  if (topology) return { limit: 'cpu-topology', reason: topology };
  const cpu = cpuRefusal(vm, source, target, hosts);
  if (cpu) return { limit: 'cpu-compat', reason: cpu };
  if (versionMonotonic && source && versionRuleApplies(source, versionMonotonic)) {
    const version = versionRefusal(vm, source, target);
    if (version) return { limit: 'version-monotonic', reason: version };
  }
  return undefined;
}
