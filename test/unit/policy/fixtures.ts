/** Small hand-built cluster states for pure policy tests. */
import type { ClusterState, HostObservation, VmObservation } from '../../../src/cluster/model.js';

const GiB = 2 ** 30;

export function win(v: number) {
  return { last: v, mean: v, p90: v, samples: 5 };
}

export function host(name: string, extra: Partial<HostObservation> = {}): HostObservation {
  return {
    name,
    uri: `qemu+tcp://10.0.0.${name.length}/system`,
    up: true,
    maintenance: false,
    cpuCount: 4,
    memoryTotalBytes: 16 * GiB,
    cpuOvercommitRatio: 4,
    memoryOvercommitRatio: 1,
    cpuUtilization: win(0),
    memoryUsedBytes: 0,
    labels: {},
    ...extra,
  };
}

export function vm(name: string, hostName: string, cpu: number, extra: Partial<VmObservation> = {}): VmObservation {
  return {
    name,
    uuid: `00000000-0000-4000-8000-${name.padStart(12, '0').slice(-12)}`,
    host: hostName,
    state: 'running',
    vcpus: 1,
    cpuUtilization: win(cpu),
    memoryBytes: GiB,
    maxMemoryBytes: GiB,
    jobRunning: false,
    disksShared: true,
    localDiskBytes: 0,
    tags: [],
    ...extra,
  };
}

/** Hosts' CPU and memory computed from their VMs, as the collector does with a configured capacity. */
export function state(hosts: HostObservation[], vms: VmObservation[], extra: Partial<ClusterState> = {}): ClusterState {
  const withLoad = hosts.map((h) => {
    const mine = vms.filter((v) => v.host === h.name);
    const cpu = mine.reduce((s, v) => s + v.cpuUtilization.mean * v.vcpus, 0) / h.cpuCount;
    return { ...h, cpuUtilization: win(cpu), memoryUsedBytes: mine.reduce((s, v) => s + v.memoryBytes, 0) };
  });
  return { observedAtMs: 1_000_000, hosts: withLoad, vms, inFlight: [], lastMovedAtMs: {}, recentMoves: [], ...extra };
}
