/**
 * Turns the replay's view into the ClusterState the live collector would produce, so the engine's
 * plan() runs on the traces exactly as it runs on real hosts.
 *
 * CPU units: the model counts CPUs, CloudSim counts MIPS. One model CPU here is MIPS_PER_CPU MIPS,
 * so a 2500-MIPS VM has 2.5 "vCPUs" and a G4 host (2 x 1860 MIPS) 3.72 CPUs; every ratio the engine
 * computes (VM load on a host = vcpus x utilisation / host CPUs) comes out as in MIPS.
 */
import { MiB, type ClusterState, type HostObservation, type VmObservation, type WindowedValue } from '../../src/cluster/model.js';
import type { ReplayView } from './replay.js';
import { windowedValue } from '../../src/cluster/window.js';

export const MIPS_PER_CPU = 1000;
/** Host memory shown to the engine when VM memory is not reserved (CloudSim 3.0.3's PlanetLab runs): so large it never binds. */
const UNRESERVED_MEMORY_BYTES = 2 ** 50;

export function windowed(series: ArrayLike<number>, endIndex: number, windowSamples: number): WindowedValue {
  const start = Math.max(0, endIndex - windowSamples + 1);
  const values: number[] = [];
  for (let i = start; i <= endIndex; i++) values.push(series[i]);
  // The collector's own summary (nearest-rank p90, least-squares slope).
  return windowedValue(values);
}

export interface ClusterStateOptions {
  windowSamples: number;
  /** vCPU overcommit the engine may place up to; CloudSim only limits MIPS, so keep it loose. */
  cpuOvercommitRatio: number;
  recentMoves: ClusterState['recentMoves'];
}

export function clusterStateFromView(view: ReplayView, options: ClusterStateOptions): ClusterState {
  const t = view.sampleIndex;
  const hosts: HostObservation[] = view.hosts.map((host) => {
    // Host utilisation over the window, computed from the VMs on it now (as the lab collector does
    // against a configured capacity).
    const series: number[] = [];
    for (let s = Math.max(0, t - options.windowSamples + 1); s <= t; s++) series.push(view.hostDemandMips(host.index, s) / host.capacityMips);
    return {
      name: host.name,
      uri: `sim:///${host.name}`,
      up: true,
      maintenance: false,
      cpuCount: host.capacityMips / MIPS_PER_CPU,
      memoryTotalBytes: view.memoryReserved ? host.memoryMiB * MiB : UNRESERVED_MEMORY_BYTES,
      cpuOvercommitRatio: options.cpuOvercommitRatio,
      memoryOvercommitRatio: 1,
      cpuUtilization: windowed(series, series.length - 1, options.windowSamples),
      memoryUsedBytes: view.hostMemoryUsedMiB(host.index) * MiB,
      labels: { type: host.type.name },
    };
  });
  const vms: VmObservation[] = view.vms.map((vm) => {
    return {
      name: vm.name,
      uuid: vm.uuid,
      host: view.hosts[view.hostOf(vm.index)].name,
      state: 'running',
      vcpus: vm.mips / MIPS_PER_CPU,
      cpuUtilization: windowed(vm.utilization, t, options.windowSamples),
      memoryBytes: vm.memoryMiB * MiB,
      maxMemoryBytes: vm.memoryMiB * MiB,
      // PlanetLab traces carry no memory activity; an idle-ish guest is the honest assumption.
      dirtyRateMiBps: 0,
      dirtyRateMeasuredAtMs: view.nowMs,
      jobRunning: false,
      disksShared: true,
      localDiskBytes: 0,
      tags: [],
    };
  });
  const lastMovedAtMs: Record<string, number> = {};
  for (const vm of view.vms) {
    const moved = view.lastMovedAtMs(vm.index);
    if (moved !== undefined) lastMovedAtMs[vm.uuid] = moved;
  }
  return { observedAtMs: view.nowMs, hosts, vms, inFlight: [], lastMovedAtMs, recentMoves: options.recentMoves };
}
