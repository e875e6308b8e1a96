/**
 * Failover headroom (policy.headroom, issue 29 item 1): the cluster keeps room to restart the VMs
 * of failed hosts on the others (Ganeti hbal's N+1 check; vSphere HA admission control). With
 * `hostFailures: 1`, the VMs of any one host must fit on the remaining hosts within their memory
 * and vCPU limits (memoryTotal x memoryOvercommitRatio of guest memory placed; cpuCount x
 * cpuOvercommitRatio vCPUs; no VM with more vCPUs than a host's CPUs); with N > 1, the VMs of the
 * N hosts holding the most guest memory together. Only hosts that are up, out of maintenance and
 * awake (no power action) count, on both sides.
 *
 * The re-placement is greedy (largest VM first onto the host with the most free memory that takes
 * its vCPUs), so "fits" is what a restart would find without moving anything else; a shortfall
 * names the failed host, the first VM left without a host and the room there was.
 */
import { holdsMemory, type HostObservation, type VmObservation } from '../cluster/model.js';
import { ordinaryMemoryBytes } from './memory-fit.js';

const MiB = 2 ** 20;

/** One host as headroom sees it: its guest memory placed and vCPUs, and its VMs (for a host that may fail). */
export interface HeadroomHost {
  host: HostObservation;
  placedMemoryBytes: number;
  vcpus: number;
  /** Its VMs; asked only of hosts that may fail. */
  vms: () => readonly VmObservation[];
}

/** Hosts that count for headroom: up, out of maintenance, awake. */
export function countsForHeadroom(h: HostObservation): boolean {
  return h.up && !h.maintenance && !h.power;
}

/**
 * Why the hosts lack the headroom for `hostFailures` failed hosts, or undefined when they have it
 * (always with hostFailures 0). Cost: every VM of every host against every host (one-host
 * failures), so it is asked only when policy.headroom is set.
 */
export function headroomShortfall(hosts: readonly HeadroomHost[], hostFailures: number): string | undefined {
  if (hostFailures <= 0) return undefined;
  const counted = hosts.filter((h) => countsForHeadroom(h.host));
  if (counted.length <= hostFailures)
    return `${counted.length} host(s) up and out of maintenance cannot tolerate ${hostFailures} host failure(s): none would be left (policy.headroom.hostFailures)`;
  if (hostFailures === 1) {
    // The host holding the most first: its failure is the likeliest not to fit.
    const order = [...counted].sort((a, b) => b.placedMemoryBytes - a.placedMemoryBytes);
    for (const f of order) {
      const short = replace(counted, [f]);
      if (short) return short;
    }
    return undefined;
  }
  const largest = [...counted].sort((a, b) => b.placedMemoryBytes - a.placedMemoryBytes).slice(0, hostFailures);
  return replace(counted, largest);
}

/** Greedy re-placement of the failed hosts' VMs on the rest; the first VM that fits nowhere, said. */
function replace(counted: readonly HeadroomHost[], failed: readonly HeadroomHost[]): string | undefined {
  const gone = new Set(failed.map((f) => f.host.name));
  const rest = counted
    .filter((h) => !gone.has(h.host.name))
    .map((h) => ({
      h: h.host,
      freeMemory: h.host.memoryTotalBytes * h.host.memoryOvercommitRatio - h.placedMemoryBytes,
      freeVcpus: h.host.cpuCount * h.host.cpuOvercommitRatio - h.vcpus,
    }));
  const vms = failed
    .flatMap((f) => f.vms().filter((v) => holdsMemory(v.state)))
    .sort((a, b) => ordinaryMemoryBytes(b) - ordinaryMemoryBytes(a) || b.vcpus - a.vcpus);
  let placed = 0;
  for (const vm of vms) {
    const mem = ordinaryMemoryBytes(vm);
    let best: (typeof rest)[number] | undefined;
    for (const r of rest) if (vm.vcpus <= r.h.cpuCount && r.freeVcpus >= vm.vcpus && r.freeMemory >= mem && (!best || r.freeMemory > best.freeMemory)) best = r;
    if (!best) {
      const most = rest.reduce((m, r) => Math.max(m, r.freeMemory), 0);
      const names = failed.map((f) => f.host.name).join(' and ');
      return `if ${names} failed, ${vm.name} (${(mem / MiB).toFixed(0)} MiB, ${vm.vcpus} vCPUs) would fit on none of the ${rest.length} other host(s) (most free: ${(Math.max(0, most) / MiB).toFixed(0)} MiB of guest memory) after ${placed} of its ${vms.length} VMs; policy.headroom.hostFailures ${failed.length} asks that they all fit`;
    }
    best.freeMemory -= mem;
    best.freeVcpus -= vm.vcpus;
    placed++;
  }
  return undefined;
}

/**
 * The hosts as headroom sees them from an observed state, with `moves` (a plan's) applied: for
 * decisions outside a plan (power-off). A host in `without` counts as gone.
 */
export function headroomHostsOf(
  state: { hosts: readonly HostObservation[]; vms: readonly VmObservation[] },
  moves: readonly { vmUuid: string; to: string }[] = [],
  without?: string,
): HeadroomHost[] {
  const to = new Map(moves.map((m) => [m.vmUuid, m.to]));
  const byHost = new Map<string, VmObservation[]>();
  for (const vm of state.vms) {
    const host = to.get(vm.uuid) ?? vm.host;
    const list = byHost.get(host);
    if (list) list.push(vm);
    else byHost.set(host, [vm]);
  }
  return state.hosts.map((host) => {
    const vms = byHost.get(host.name) ?? [];
    return {
      host: host.name === without ? { ...host, up: false } : host,
      placedMemoryBytes: vms.reduce((s, v) => s + ordinaryMemoryBytes(v), 0),
      vcpus: vms.reduce((s, v) => s + v.vcpus, 0),
      vms: () => vms,
    };
  });
}
