/**
 * Replays one day of PlanetLab traces on a CloudSim-like cluster and lets a balancer move VMs
 * between intervals. Every balancer sees the same cluster, the same start and only the samples up
 * to "now" (no look-ahead); the replay alone applies moves and keeps the books, so the figures of
 * different balancers are comparable.
 *
 * Time: sample t covers [t, t+1) x sampleSeconds. After interval t is accounted, the balancer
 * decides; its migrations run at the start of interval t+1 (they last seconds, the interval five
 * minutes), the VM counts on its new host for all of t+1, and loses migrationDegradationRatio of
 * its demand for the migration's duration (PDM).
 */
import { computeSlaMetrics, powerWatts, standardDeviation, type SlaMetrics } from './metrics.js';
import { scenarioCluster, scenarioVmTypes, type HostType, type TraceBenchInputs, type TraceScenario, type VmType } from './inputs.js';
import type { TraceDay } from './loader.js';

export interface SimHost {
  index: number;
  name: string;
  type: HostType;
  capacityMips: number;
  memoryMiB: number;
}

export interface SimVm {
  index: number;
  name: string;
  /** Stable fake UUID derived from the index, for the engine's ClusterState. */
  uuid: string;
  type: VmType;
  mips: number;
  memoryMiB: number;
  /** Utilisation of the VM's own CPU per interval, 0..1. */
  utilization: Float64Array;
}

export interface ReplayMove {
  vm: number;
  to: number;
  /** Why (for the report's sample of decisions). */
  reason?: string;
}

/** What a balancer may look at: the cluster now and the samples observed so far. */
export interface ReplayView {
  /** Index of the last observed sample. */
  readonly sampleIndex: number;
  readonly sampleSeconds: number;
  /** Simulated wall clock at the decision (ms since the day's start, offset by dayStartMs). */
  readonly nowMs: number;
  readonly hosts: readonly SimHost[];
  readonly vms: readonly SimVm[];
  readonly migrationBandwidthMiBps: number;
  /** False when VM memory is not reserved after the start (scenario memoryLimit initial-placement-only): hostMemoryUsedMiB is then 0. */
  readonly memoryReserved: boolean;
  hostOf(vm: number): number;
  vmsOn(host: number): readonly number[];
  hostMemoryUsedMiB(host: number): number;
  /** Demand of the VMs on the host now, at a past sample (default: the last). */
  hostDemandMips(host: number, sample?: number): number;
  vmDemandMips(vm: number, sample?: number): number;
  /** Seeded random number in [0, 1). */
  random(): number;
  /** When each VM last moved (ms, same clock as nowMs). */
  lastMovedAtMs(vm: number): number | undefined;
}

export interface Balancer {
  name: string;
  description: string;
  /** Scenarios it runs in (default: all). */
  scenarios?: readonly string[];
  decide(view: ReplayView): ReplayMove[] | Promise<ReplayMove[]>;
}

export interface ReplayResult {
  scenario: string;
  day: string;
  balancer: string;
  vmCount: number;
  hostCount: number;
  sla: SlaMetrics;
  /** Same as sla.slatah: share of active host-time with CPU demand above capacity. */
  overloadedHostTimeShare: number;
  /**
   * SLATAH with CloudSim's extra violations approximated: a single-core VM asking more than one
   * host core, and the source host while a VM migrates off it. For holding against published figures.
   */
  slatahCloudsimAccounting: number;
  slavCloudsimAccounting: number;
  migrations: number;
  rejectedMoves: number;
  rejectedExamples: string[];
  /** Mean over intervals of the standard deviation of host CPU utilisation (all hosts). */
  meanImbalance: number;
  /** Mean over intervals of the standard deviation over hosts that hold VMs. */
  meanImbalanceActiveHosts: number;
  /** Share of requested CPU that could not be served because hosts were overloaded. */
  unservedCpuShare: number;
  /** Energy with CloudSim's SPECpower models; hosts without VMs count as switched off, and an interval at 0 % utilisation costs nothing (as CloudSim 3.0.3 counts it). */
  energyKWh: number;
  meanActiveHosts: number;
  /** Seconds the VMs spent migrating in total. */
  migrationSeconds: number;
  /** Balancer decision time per tick (wall clock of this machine). */
  decideMsMean: number;
  decideMsMax: number;
  /** Balancer error, when it threw (the replay continues with no moves that tick). */
  errors: string[];
}

export function fakeUuid(index: number): string {
  const hex = index.toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${hex}`;
}

/** Mulberry32: a small seeded generator so random baselines rerun identically. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hashSeed(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

export function buildHosts(inputs: { hostCount: number; hostTypes: readonly HostType[] }): SimHost[] {
  const hosts: SimHost[] = [];
  for (let i = 0; i < inputs.hostCount; i++) {
    // CloudSim: host i gets type i mod (number of host types).
    const type = inputs.hostTypes[i % inputs.hostTypes.length];
    hosts.push({ index: i, name: `host${String(i).padStart(4, '0')}`, type, capacityMips: type.cores * type.coreMips, memoryMiB: type.memoryMiB });
  }
  return hosts;
}

export function buildVms(day: TraceDay, vmTypes: readonly VmType[]): SimVm[] {
  return day.vms.map((trace, i) => {
    // CloudSim: VM i gets type i mod (number of VM types).
    const type = vmTypes[i % vmTypes.length];
    return { index: i, name: trace.name, uuid: fakeUuid(i), type, mips: type.mips, memoryMiB: type.memoryMiB, utilization: trace.utilization };
  });
}

/** Initial placement, the same for every balancer. Returns host index per VM. */
export function initialPlacement(method: TraceBenchInputs['initialPlacement']['method'], hosts: readonly SimHost[], vms: readonly SimVm[]): Int32Array {
  const placement = new Int32Array(vms.length);
  const memoryFree = hosts.map((h) => h.memoryMiB);
  if (method === 'round-robin') {
    let next = 0;
    for (const vm of vms) {
      let tries = 0;
      while (memoryFree[next] < vm.memoryMiB) {
        next = (next + 1) % hosts.length;
        if (++tries > hosts.length) throw new Error(`initial placement: no host has ${vm.memoryMiB} MiB free for VM "${vm.name}"; add hosts`);
      }
      placement[vm.index] = next;
      memoryFree[next] -= vm.memoryMiB;
      next = (next + 1) % hosts.length;
    }
    return placement;
  }
  const order = [...vms].sort((a, b) => b.memoryMiB - a.memoryMiB || a.index - b.index);
  for (const vm of order) {
    const host = memoryFree.findIndex((free) => free >= vm.memoryMiB);
    if (host < 0) throw new Error(`initial placement: no host has ${vm.memoryMiB} MiB free for VM "${vm.name}"; add hosts`);
    placement[vm.index] = host;
    memoryFree[host] -= vm.memoryMiB;
  }
  return placement;
}

export interface ReplayOptions {
  inputs: TraceBenchInputs;
  scenario: TraceScenario;
  day: TraceDay;
  balancer: Balancer;
  /** Only replay the first N samples (tests); default all. */
  maxSamples?: number;
  /** Clock origin for nowMs (ms since epoch). */
  dayStartMs?: number;
}

export async function replayDay(options: ReplayOptions): Promise<ReplayResult> {
  const { inputs, day, balancer } = options;
  const hosts = buildHosts(scenarioCluster(inputs, options.scenario));
  const vms = buildVms(day, scenarioVmTypes(inputs, options.scenario));
  const memoryReserved = options.scenario.memoryLimit !== 'initial-placement-only';
  const samples = Math.min(options.maxSamples ?? Infinity, ...vms.map((v) => v.utilization.length));
  const sampleSeconds = inputs.sampleSeconds;
  const dayStartMs = options.dayStartMs ?? Date.UTC(Number(day.day.slice(0, 4)), Number(day.day.slice(4, 6)) - 1, Number(day.day.slice(6, 8)));
  const bandwidthBytesPerSecond = ((inputs.networkMbps * 1e6) / 8) * inputs.migrationBandwidthShare;
  const migrationBandwidthMiBps = bandwidthBytesPerSecond / 1048576;

  const placement = initialPlacement(inputs.initialPlacement.method, hosts, vms);
  const vmsOnHost: number[][] = hosts.map(() => []);
  const memoryUsed = new Float64Array(hosts.length);
  for (const vm of vms) {
    vmsOnHost[placement[vm.index]].push(vm.index);
    memoryUsed[placement[vm.index]] += vm.memoryMiB;
  }
  const lastMoved = new Map<number, number>();
  const random = seededRandom(hashSeed(inputs.seed, options.scenario.name, day.day, balancer.name));

  const hostTally = hosts.map(() => ({ activeSeconds: 0, overloadedSeconds: 0 }));
  // Approximates CloudSim's books: a host also violates when one single-core VM asks more than one
  // host core gives, and while a VM migrates off it (the source serves it at 90 %).
  const cloudsimTally = hosts.map(() => ({ activeSeconds: 0, overloadedSeconds: 0 }));
  const coreCapped = new Uint8Array(hosts.length);
  const migratingOffSeconds = new Float64Array(hosts.length);
  const vmTally = vms.map(() => ({ requestedMipsSeconds: 0, migrationDegradationMipsSeconds: 0 }));
  let migrations = 0;
  let rejectedMoves = 0;
  const rejectedExamples: string[] = [];
  let imbalanceSum = 0;
  let imbalanceActiveSum = 0;
  let unservedMipsSeconds = 0;
  let requestedMipsSeconds = 0;
  let energyJoules = 0;
  let activeHostSum = 0;
  let migrationSeconds = 0;
  const decideMs: number[] = [];
  const errors: string[] = [];
  const demand = new Float64Array(hosts.length);
  const utilizations = new Float64Array(hosts.length);

  const hostDemandAt = (host: number, sample: number): number => {
    let sum = 0;
    for (const v of vmsOnHost[host]) sum += vms[v].utilization[sample] * vms[v].mips;
    return sum;
  };

  for (let t = 0; t < samples; t++) {
    demand.fill(0);
    coreCapped.fill(0);
    for (const vm of vms) {
      const d = vm.utilization[t] * vm.mips;
      const at = placement[vm.index];
      demand[at] += d;
      if (d > hosts[at].type.coreMips * (1 + 1e-9)) coreCapped[at] = 1;
      vmTally[vm.index].requestedMipsSeconds += d * sampleSeconds;
      requestedMipsSeconds += d * sampleSeconds;
    }
    const activeUtilizations: number[] = [];
    for (const host of hosts) {
      const u = demand[host.index] / host.capacityMips;
      utilizations[host.index] = u;
      if (vmsOnHost[host.index].length === 0) continue;
      activeUtilizations.push(u);
      hostTally[host.index].activeSeconds += sampleSeconds;
      cloudsimTally[host.index].activeSeconds += sampleSeconds;
      // Tolerance: a host exactly at capacity is not short of CPU.
      const overloaded = demand[host.index] > host.capacityMips * (1 + 1e-9);
      if (overloaded) {
        hostTally[host.index].overloadedSeconds += sampleSeconds;
        unservedMipsSeconds += (demand[host.index] - host.capacityMips) * sampleSeconds;
      }
      cloudsimTally[host.index].overloadedSeconds +=
        overloaded || coreCapped[host.index] ? sampleSeconds : Math.min(sampleSeconds, migratingOffSeconds[host.index]);
      // CloudSim 3.0.3 (PowerHost.getEnergyLinearInterpolation) charges nothing for a time frame
      // that starts at 0 % utilisation: a host holding only idle VMs costs no energy that interval.
      if (u > 0) energyJoules += powerWatts(host.type.powerWattsAt0To100Percent, u) * sampleSeconds;
    }
    // A host that gave away its last VM is not active, yet served it during the migration.
    for (let h = 0; h < hosts.length; h++) {
      if (migratingOffSeconds[h] > 0 && vmsOnHost[h].length === 0) {
        cloudsimTally[h].activeSeconds += migratingOffSeconds[h];
        cloudsimTally[h].overloadedSeconds += migratingOffSeconds[h];
      }
    }
    migratingOffSeconds.fill(0);
    activeHostSum += activeUtilizations.length;
    imbalanceSum += standardDeviation(utilizations);
    imbalanceActiveSum += standardDeviation(activeUtilizations);

    if (t === samples - 1) break;
    const nowMs = dayStartMs + (t + 1) * sampleSeconds * 1000;
    const view: ReplayView = {
      sampleIndex: t,
      sampleSeconds,
      nowMs,
      hosts,
      vms,
      migrationBandwidthMiBps,
      memoryReserved,
      hostOf: (vm) => placement[vm],
      vmsOn: (host) => vmsOnHost[host],
      hostMemoryUsedMiB: (host) => (memoryReserved ? memoryUsed[host] : 0),
      hostDemandMips: (host, sample = t) => hostDemandAt(host, sample),
      vmDemandMips: (vm, sample = t) => vms[vm].utilization[sample] * vms[vm].mips,
      random,
      lastMovedAtMs: (vm) => lastMoved.get(vm),
    };
    let moves: ReplayMove[] = [];
    const started = performance.now();
    try {
      moves = await balancer.decide(view);
    } catch (error) {
      if (errors.length < 5) errors.push(`interval ${t}: ${(error as Error).message}`);
    }
    decideMs.push(performance.now() - started);

    for (const move of moves) {
      const vm = vms[move.vm];
      const to = hosts[move.to];
      const reject = (why: string) => {
        rejectedMoves++;
        if (rejectedExamples.length < 5) rejectedExamples.push(`interval ${t}: ${vm?.name ?? move.vm} -> ${to?.name ?? move.to}: ${why}`);
      };
      if (!vm || !to) {
        reject('unknown VM or host');
        continue;
      }
      const from = placement[vm.index];
      if (from === to.index) {
        reject('already there');
        continue;
      }
      if (memoryReserved && memoryUsed[to.index] + vm.memoryMiB > to.memoryMiB) {
        reject(`target has ${to.memoryMiB - memoryUsed[to.index]} MiB free, VM needs ${vm.memoryMiB}`);
        continue;
      }
      const list = vmsOnHost[from];
      list.splice(list.indexOf(vm.index), 1);
      vmsOnHost[to.index].push(vm.index);
      memoryUsed[from] -= vm.memoryMiB;
      memoryUsed[to.index] += vm.memoryMiB;
      placement[vm.index] = to.index;
      lastMoved.set(vm.index, nowMs);
      migrations++;
      // CloudSim: VM RAM in MB (10^6 bytes) over half the host bandwidth; our memoryMiB figures are
      // CloudSim's RAM values, so they are read as MB here.
      const seconds = Math.min(sampleSeconds, (vm.memoryMiB * 1e6) / bandwidthBytesPerSecond);
      migrationSeconds += seconds;
      migratingOffSeconds[from] = Math.max(migratingOffSeconds[from], seconds);
      vmTally[vm.index].migrationDegradationMipsSeconds += inputs.migrationDegradationRatio * vm.utilization[t + 1] * vm.mips * seconds;
    }
  }

  const sla = computeSlaMetrics(hostTally, vmTally);
  const slaCloudsim = computeSlaMetrics(cloudsimTally, vmTally);
  return {
    scenario: options.scenario.name,
    day: day.day,
    balancer: balancer.name,
    vmCount: vms.length,
    hostCount: hosts.length,
    sla,
    overloadedHostTimeShare: sla.slatah,
    slatahCloudsimAccounting: slaCloudsim.slatah,
    slavCloudsimAccounting: slaCloudsim.slav,
    migrations,
    rejectedMoves,
    rejectedExamples,
    meanImbalance: imbalanceSum / samples,
    meanImbalanceActiveHosts: imbalanceActiveSum / samples,
    unservedCpuShare: requestedMipsSeconds > 0 ? unservedMipsSeconds / requestedMipsSeconds : 0,
    energyKWh: energyJoules / 3.6e6,
    meanActiveHosts: activeHostSum / samples,
    migrationSeconds,
    decideMsMean: decideMs.length ? decideMs.reduce((a, b) => a + b, 0) / decideMs.length : 0,
    decideMsMax: decideMs.length ? Math.max(...decideMs) : 0,
    errors,
  };
}
