/**
 * The cluster as planned so far this tick: indexed views of the observed state (built once per
 * plan, so every per-host or per-VM question is a map lookup, never a scan of state.vms) and the
 * projected host loads, the objective and VM placement that one method, `apply`, moves together
 * when a move is planned (as Watcher's compute model does), so no step updates them by hand.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import type { ProjectedHost } from './api.js';
import { freeHugepagesOf, ordinaryMemoryBytes, projectMemoryMove } from './memory-fit.js';
import { Objective, type MoveDelta } from './objective.js';
import { p90Of, p90WithWindow, sumWindows } from '../cluster/window.js';

/** Above by more than float noise: loads summed from VM shares (0.8 x 5 / 4 = 1.0000000000000002) must not read as above a threshold they sit on. */
export const EPSILON = 1e-9;

/** Thresholds as ratios (0..1), from the percentages in policy config. */
export interface Thresholds {
  cpuHigh: number;
  cpuLow: number;
  memoryHigh: number;
  hysteresis: number;
}

export function thresholdsOf(config: PolicyConfig): Thresholds {
  return {
    cpuHigh: config.cpuHighPercent / 100,
    cpuLow: config.cpuLowPercent / 100,
    memoryHigh: config.memoryHighPercent / 100,
    hysteresis: config.hysteresisPercent / 100,
  };
}

/** Lookups over one observed state, each built in one pass. */
export class ClusterIndex {
  readonly hostsByName: Map<string, HostObservation>;
  readonly vmsByUuid: Map<string, VmObservation>;
  readonly vmsByHost = new Map<string, VmObservation[]>();

  constructor(readonly state: ClusterState) {
    this.hostsByName = new Map(state.hosts.map((h) => [h.name, h]));
    this.vmsByUuid = new Map(state.vms.map((v) => [v.uuid, v]));
    for (const vm of state.vms) {
      const list = this.vmsByHost.get(vm.host);
      if (list) list.push(vm);
      else this.vmsByHost.set(vm.host, [vm]);
    }
  }

  vmsOn(host: string): readonly VmObservation[] {
    return this.vmsByHost.get(host) ?? [];
  }
}

/** A VM's CPU demand as a share of a host's capacity. */
export function cpuShare(vm: VmObservation, host: HostObservation): number {
  return host.cpuCount > 0 ? (vm.cpuUtilization.mean * vm.vcpus) / host.cpuCount : 0;
}

function memoryShare(vm: VmObservation, host: HostObservation): number {
  return host.memoryTotalBytes > 0 ? ordinaryMemoryBytes(vm) / host.memoryTotalBytes : 0;
}

/** What a move changes in the objective's shares, on both hosts. */
export function moveDelta(vm: VmObservation, from: HostObservation, to: HostObservation): MoveDelta {
  return { fromCpu: cpuShare(vm, from), toCpu: cpuShare(vm, to), fromMemory: memoryShare(vm, from), toMemory: memoryShare(vm, to) };
}

export class Projection {
  readonly objective: Objective;
  /** Hosts counted by the objective: up and not in maintenance. */
  readonly counted: HostObservation[];
  readonly thresholds: Thresholds;
  private readonly hosts = new Map<string, ProjectedHost>();
  /** Where VMs go that moves planned or under way take elsewhere (the others are where observed). */
  private readonly moved = new Map<string, string>();
  private readonly forecastOffset = new Map<string, number>();
  /** Memory of VMs migrating off a host now, bytes (applyInFlight). */
  private readonly leavingBytes = new Map<string, number>();
  /** Told the names of the two hosts whenever a move (planned or in flight) changes their loads (target-index.ts). */
  private readonly listeners: ((host: string) => void)[] = [];

  constructor(
    readonly index: ClusterIndex,
    config: PolicyConfig,
  ) {
    const { state } = index;
    this.thresholds = thresholdsOf(config);
    for (const host of state.hosts) {
      const vms = index.vmsOn(host.name);
      let vcpus = 0;
      let placedMemoryBytes = 0;
      for (const v of vms) {
        vcpus += v.vcpus;
        placedMemoryBytes += ordinaryMemoryBytes(v);
      }
      this.hosts.set(host.name, {
        host,
        cpuRatio: host.cpuUtilization.mean,
        cpuRatioP90: Math.max(host.cpuUtilization.p90, host.cpuUtilization.mean),
        cpuSeries: host.cpuUtilization.series && host.cpuUtilization.series.length > 0 ? [...host.cpuUtilization.series] : undefined,
        memoryUsedBytes: host.memoryUsedBytes,
        placedMemoryBytes,
        freeHugepages: freeHugepagesOf(host),
        vcpus,
        vmUuids: new Set(vms.map((v) => v.uuid)),
      });
    }
    // Forecast: the window's linear trend, from its mean and last sample (for samples on a line the
    // mean sits (n-1)/2 steps before the last), projected aheadTicks past the last sample. Only a
    // rising trend counts: a falling one must not hide a host that is hot now.
    if (config.forecast.enabled) {
      for (const host of state.hosts) {
        const w = host.cpuUtilization;
        if (w.samples < 2) continue;
        // The least-squares slope when the window gives one, else the trend from mean to last.
        const slope = w.slopePerSample ?? (w.last - w.mean) / ((w.samples - 1) / 2);
        const offset = slope * ((w.samples - 1) / 2 + config.forecast.aheadTicks);
        if (offset > 0) this.forecastOffset.set(host.name, offset);
      }
    }
    this.counted = state.hosts.filter((h) => h.up && !h.maintenance);
    this.objective = new Objective(
      this.counted.map((h) => ({
        name: h.name,
        cpu: h.cpuUtilization.mean,
        memory: h.memoryTotalBytes > 0 ? h.memoryUsedBytes / h.memoryTotalBytes : 0,
        cpuForecastOffset: this.forecastOffset.get(h.name) ?? 0,
      })),
      { cpu: config.objective.cpuWeight, memory: config.objective.memoryWeight, hotSpot: config.objective.hotSpotWeight },
      { cpu: this.thresholds.cpuHigh, memory: this.thresholds.memoryHigh },
    );
  }

  /** Calls `listener` with each host's name whose projected load a later apply() or applyInFlight() changes. */
  onHostChange(listener: (host: string) => void): void {
    this.listeners.push(listener);
  }

  host(name: string): ProjectedHost | undefined {
    return this.hosts.get(name);
  }

  placeOf(vmUuid: string): string | undefined {
    return this.moved.get(vmUuid) ?? this.index.vmsByUuid.get(vmUuid)?.host;
  }

  /** The host's projected CPU p90 with the VM added (per-instant sum of the windows; see p90WithWindow). */
  cpuP90With(vm: VmObservation, name: string): number {
    const p = this.hosts.get(name);
    if (!p) return 0;
    const weight = p.host.cpuCount > 0 ? vm.vcpus / p.host.cpuCount : 0;
    return Math.max(p90WithWindow({ series: p.cpuSeries, p90: p.cpuRatioP90 }, { window: vm.cpuUtilization, weight }), p.cpuRatio + cpuShare(vm, p.host));
  }

  /** The host's CPU ratio forecast policy.forecast.aheadTicks ahead (the projected mean when forecasting is off). */
  forecastCpu(name: string): number {
    return (this.hosts.get(name)?.cpuRatio ?? 0) + (this.forecastOffset.get(name) ?? 0);
  }

  /** Which resources of a host are above the given limits (ratios), as projected. */
  above(name: string, cpuLimit: number, memoryLimit: number): { cpu: boolean; memory: boolean } {
    const p = this.hosts.get(name);
    if (!p?.host.up) return { cpu: false, memory: false };
    return {
      cpu: this.forecastCpu(name) > cpuLimit + EPSILON,
      memory: p.host.memoryTotalBytes > 0 && (p.memoryUsedBytes - (this.leavingBytes.get(name) ?? 0)) / p.host.memoryTotalBytes > memoryLimit + EPSILON,
    };
  }

  /** CPU or memory above the high threshold. */
  overloaded(name: string): boolean {
    const a = this.above(name, this.thresholds.cpuHigh, this.thresholds.memoryHigh);
    return a.cpu || a.memory;
  }

  /**
   * A migration under way counts as done: its CPU is the target's, not the source's, so the source
   * is not relieved twice and the target not filled twice. vCPUs are reserved on the target and
   * kept on the source until the VM leaves it. Its memory is counted on both hosts while it moves
   * (the incoming domain already holds it on the target): the target keeps it, and the source's
   * share counts as gone for the objective and for whether the source is still hot, or a move
   * longer than a tick would have the source relieved again each tick (issue 24: 128 GiB VMs piled
   * on a 4 TiB host overshot to 16 % against a 25 % mean). The source's memory in use stays as
   * observed for capacity: it is not free until the VM has left. Its configured memory is placed on
   * the target as well (and stays placed on the source until it leaves), so the placed-memory limit
   * does not let a second VM into the same room.
   */
  applyInFlight(vm: VmObservation, source: HostObservation, target: HostObservation): void {
    const d = moveDelta(vm, source, target);
    this.objective.apply(source.name, target.name, { ...d, toMemory: 0 });
    this.leavingBytes.set(source.name, (this.leavingBytes.get(source.name) ?? 0) + ordinaryMemoryBytes(vm));
    this.hosts.get(target.name)!.placedMemoryBytes += ordinaryMemoryBytes(vm);
    this.moveCpuAndPlacement(vm, source, target, d);
  }

  /** A planned move: CPU, memory (or hugepages), vCPUs, the objective and placement all move. */
  apply(vm: VmObservation, source: HostObservation, target: HostObservation): void {
    const d = moveDelta(vm, source, target);
    this.objective.apply(source.name, target.name, d);
    const ps = this.hosts.get(source.name)!;
    const pt = this.hosts.get(target.name)!;
    projectMemoryMove(vm, ps, pt);
    ps.placedMemoryBytes -= ordinaryMemoryBytes(vm);
    pt.placedMemoryBytes += ordinaryMemoryBytes(vm);
    ps.vcpus -= vm.vcpus;
    this.moveCpuAndPlacement(vm, source, target, d);
  }

  /** What a planned and an in-flight move both change: CPU on both hosts, the target's vCPUs, and where the VM is. */
  private moveCpuAndPlacement(vm: VmObservation, source: HostObservation, target: HostObservation, d: MoveDelta): void {
    const ps = this.hosts.get(source.name)!;
    const pt = this.hosts.get(target.name)!;
    ps.cpuRatio -= d.fromCpu;
    ps.vmUuids.delete(vm.uuid);
    pt.cpuRatio += d.toCpu;
    // The p90s follow the per-instant sums (never p90 plus or minus the VM's mean or p90).
    shiftCpuWindow(ps, vm, -1);
    shiftCpuWindow(pt, vm, 1);
    pt.vcpus += vm.vcpus;
    pt.vmUuids.add(vm.uuid);
    this.moved.set(vm.uuid, target.name);
    for (const listener of this.listeners) {
      listener(source.name);
      listener(target.name);
    }
  }
}

/** Add (sign 1) or take out (-1) a VM's CPU window on a projected host, per instant, and recompute its p90. */
function shiftCpuWindow(p: ProjectedHost, vm: VmObservation, sign: 1 | -1): void {
  const weight = p.host.cpuCount > 0 ? vm.vcpus / p.host.cpuCount : 0;
  const window = { window: vm.cpuUtilization, weight };
  if (p.cpuSeries && vm.cpuUtilization.series) {
    const added = sumWindows([{ window: vm.cpuUtilization, weight: weight * sign }], p.cpuSeries.length);
    p.cpuSeries = p.cpuSeries.map((v, i) => Math.max(0, v + added[i]));
    p.cpuRatioP90 = Math.max(p90Of(p.cpuSeries), p.cpuRatio);
  } else {
    p.cpuSeries = undefined;
    p.cpuRatioP90 = Math.max(p90WithWindow({ p90: p.cpuRatioP90 }, window, sign), p.cpuRatio);
  }
}
