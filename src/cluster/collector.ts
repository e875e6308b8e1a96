/**
 * One tick of observation: libvirt counters from every host become a ClusterState with rates and
 * smoothed windows. One bulk get-all-domain-stats call per host; per-VM calls only for what bulk
 * stats lack: once per VM its metadata tags and XML, and job status only for VMs a migration may
 * hold (job-watch.ts: domain events, the bulk state/reason, the executor's moves).
 */
import {
  DomainJobType,
  DomainPausedReason,
  DomainState,
  DomainStatsTypes,
  domainStateName,
  GetAllDomainStatsFlags,
  LibvirtError,
  MetadataType,
  typedParamBigInt,
  typedParamNumber,
  type DomainRef,
  type LibvirtConnection,
  type TypedParams,
} from '../libvirt/index.js';
import type { Config, HostConfig } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { parseHostCapabilities, type SuspendTarget } from './capabilities.js';
import { withConfigTags } from './config-tags.js';
import { HostConnections } from './connections.js';
import { disksToCopy } from './disks.js';
import { definitionFingerprint, hugepageSizeKiB, migrationBlockers } from './domain-xml.js';
import { parseGuestCpu, parsePlacement, type GuestCpu } from './guest-cpu.js';
import { readHostGuestCpus, type HostGuestCpu } from './host-cpu.js';
import { findDuplicateVms } from './identity.js';
import { Interner } from './intern.js';
import { SharedValues } from './shared-values.js';
import { hostMemory } from './memory-accounting.js';
import { HostJobWatch } from './job-watch.js';
import { isVmBoundFailure } from './vm-bound-errors.js';
import { clusterImbalance } from './imbalance.js';
import { MiB, type ClusterState, type HostObservation, type HugepagePool, type InFlightMigration, type VmObservation, type VmState } from './model.js';
import { SampleWindow, counterValue, rateRatio, summedWindow } from './window.js';

export const TAG_NAMESPACE_URI = 'https://virt-balancer.dev/xmlns/1';

/** The model's name for a libvirt domain state: libvirt's own, with no-state and shutting-down as 'other'. */
function vmState(code: number): VmState {
  const name = domainStateName(code);
  return name === undefined || name === 'nostate' || name === 'shutdown' ? 'other' : name;
}

interface VmMemo {
  /**
   * The domain's UUID and name as first read (the name replaced when libvirt reports another):
   * its observations carry these strings, not each tick's freshly decoded copies, so a tick's
   * copies die young instead of outliving the tick in its state (issue 25).
   */
  uuid: string;
  name: string;
  host: string;
  /** The collector's tick in which this VM's stats were last read (see collect). */
  readInTick: number;
  /** cpu.time at the last reading, ns (counterValue: a number while exact). */
  cpuTimeNs: number | bigint;
  atMs: number;
  window: SampleWindow;
  tags?: string[];
  cpuModel?: string;
  guestCpu?: GuestCpu;
  placement?: { pinnedHostCpus?: number[]; numaNodeset?: number[] };
  /** Target devs of the disks a storage copy would move (see disks.ts). */
  copyTargets?: string[];
  dirtyRateMiBps?: number;
  dirtyRateMeasuredAtMs?: number;
  hugepageSizeKiB?: number;
  migrationBlockers?: string[];
  /** definitionFingerprint of the XML last read, and when it was seen to change. */
  definition?: string;
  definitionChangedAtMs?: number;
  /** The tags with the config's, and what they were made from (vmTags). */
  withConfig?: { tags: string[] | undefined; policy: Config['policy']; name: string; result: string[] };
}

interface HostMemo {
  window: SampleWindow;
  cpuCounters?: { busyNs: bigint; totalNs: bigint };
  nodeCpus?: number;
  nodeMemoryBytes?: number;
  cpuModel?: string;
  cpuFeatures?: string[];
  cpuModelBlockers?: Record<string, string[]>;
  cpuByDomainType?: Record<string, HostGuestCpu>;
  cells?: { id: number; cpuIds: number[] }[];
  suspendTargets?: SuspendTarget[];
  libvirtVersion?: number;
  hostUuid?: string;
  hugepageSizesKiB?: number[];
  hugepageTotals?: Map<number, number>;
  cellCount?: number;
  /** Which VMs need a job-info call (domain events on this host's connection). */
  jobs: HostJobWatch;
}

/**
 * What the collector is told beside what it reads from libvirt. It observes libvirt only: the
 * states it returns carry no history (empty lastMovedAtMs, recentMoves, recentFailures); planning
 * applies the decision history (controller/pipeline.ts).
 */
export interface CollectOptions {
  /** Failed moves: the VMs of VM-bound ones have their definition read again (never copied into the state). */
  recentFailures?: ClusterState['recentFailures'];
  /** Migrations the executor runs (merged with jobs found on the hosts). */
  inFlight?: InFlightMigration[];
}

const num = typedParamNumber;
const big = typedParamBigInt;

/** A KiB typed parameter in bytes, or undefined when absent. */
/**
 * The bulk-stats parameters readVm and vmObservation read; the reply's others (per-vCPU times,
 * per-disk I/O counters, most balloon figures: about two thirds of a VM's ~40) are passed over
 * undecoded (issue 25: their values were most of a 10,000-host tick's decoding and garbage).
 * A parameter read below must be named here.
 */
export const COLLECTED_PARAMS =
  /^(?:state\.(?:state|reason)|vcpu\.(?:current|maximum)|cpu\.time|balloon\.(?:current|maximum|rss|usable|unused)|block\.count|block\.\d+\.(?:name|capacity))$/;
const collectedParam = (name: string): boolean => COLLECTED_PARAMS.test(name);

function kibBytes(params: TypedParams, key: string): number | undefined {
  const v = num(params, key);
  return v === undefined ? undefined : v * 1024;
}

/** `<tags>pinned group:web</tags>` in our metadata namespace, space separated. */
export function parseTags(metadataXml: string): string[] {
  const body = /<[^>]*tags[^>]*>([\s\S]*?)<\//.exec(metadataXml)?.[1] ?? '';
  return body.split(/[\s,]+/).filter(Boolean);
}

export function parseCapabilitiesCpu(xml: string): { model?: string; features: string[] } {
  const hostCpu = /<host>[\s\S]*?<cpu>([\s\S]*?)<\/cpu>/.exec(xml)?.[1] ?? '';
  return {
    model: /<model[^>]*>([^<]+)<\/model>/.exec(hostCpu)?.[1],
    features: [...hostCpu.matchAll(/<feature name='([^']+)'/g)].map((m) => m[1]),
  };
}

/** The domain's pinning and NUMA binding; a cpuset libvirt would not write is logged and the VM taken as unbound. */
function safePlacement(xml: string, vmName: string, logger: Logger): { pinnedHostCpus?: number[]; numaNodeset?: number[] } {
  try {
    return parsePlacement(xml);
  } catch (error) {
    logger.warn({ vm: vmName, err: error }, 'pinning in the domain XML could not be read; the VM is taken as not pinned');
    return {};
  }
}

/**
 * During a migration the VM exists on both hosts (paused on the destination until it switches
 * over). Count it once: where the migration job runs (the source), else where it is running.
 */
export function dedupeMigrating(vms: VmObservation[]): VmObservation[] {
  const byUuid = new Map<string, VmObservation>();
  // The copy that runs is the VM (the source in pre-copy, the destination after a post-copy
  // switch); the paused incoming copy on a destination only says a migration is under way.
  const rank = (v: VmObservation) => (v.state === 'running' ? 2 : 0) + (v.jobRunning ? 1 : 0);
  for (const vm of vms) {
    const seen = byUuid.get(vm.uuid);
    if (!seen) byUuid.set(vm.uuid, vm);
    else {
      const keep = rank(vm) > rank(seen) ? vm : seen;
      byUuid.set(vm.uuid, { ...keep, jobRunning: vm.jobRunning || seen.jobRunning });
    }
  }
  return [...byUuid.values()];
}

/**
 * Default bound on one host's reads in one tick, ms (capped by libvirt.callTimeoutSeconds). A host
 * whose libvirt driver hangs while its keepalive still answers (issue 27 R7) would otherwise hold
 * every tick for the call timeout; past this bound the tick goes on without it.
 */
export const HOST_READ_BOUND_MS = 15_000;

/** A host's reads did not finish within the per-host bound. */
export class HostSlowError extends Error {
  constructor(
    readonly host: string,
    readonly boundMs: number,
  ) {
    super(`slow: libvirt on ${host} did not answer within ${boundMs / 1000} s (driver busy or hung; the connection itself answers); left out of this tick`);
    this.name = 'HostSlowError';
  }
}

/** `work`, or HostSlowError after `boundMs`; the work itself goes on (its late result is dropped). */
export async function withinHostBound<T>(host: string, boundMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HostSlowError(host, boundMs)), boundMs);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Hosts whose first tick (capabilities, every VM's definition) is read at once, at most. */
export const FIRST_READS_AT_ONCE = 64;

/** A counting semaphore: `acquire` waits for one of `size` slots, `release` frees one (first come, first served). */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async acquire(): Promise<void> {
    if (this.used < this.size) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used--;
  }
}

export class Collector {
  private readonly vms = new Map<string, VmMemo>();
  private readonly hosts = new Map<string, HostMemo>();
  private lastState?: ClusterState;
  /** Hosts whose reads outlived their bound and have not returned yet: not asked again meanwhile. */
  private readonly stillReading = new Map<string, number>();
  /** Hosts reading their first tick now (see collectHost). */
  private readonly firstReads = new Slots(FIRST_READS_AT_ONCE);
  /** Host CPU names and lists kept once for every host (intern.ts: not slices of each host's XML). */
  private readonly interned = new Interner();
  /** VM definition parts and tags kept once for all VMs that have equal ones (shared-values.ts). */
  private readonly shared = new SharedValues();
  /** Counts collect() calls: VM memos carry the tick that read them. */
  private tick = 0;
  /** Whether a VM's stats were read twice in this tick (two hosts, or a late read): only then are copies deduplicated. */
  private repeatedThisTick = false;

  constructor(
    private config: Config,
    readonly connections: HostConnections,
    private readonly deps: { logger: Logger; metrics?: Metrics; hostReadBoundMs?: number },
  ) {}

  setConfig(config: Config): void {
    this.config = config;
  }

  latest(): ClusterState | undefined {
    return this.lastState;
  }

  async collect(options: CollectOptions = {}): Promise<ClusterState> {
    const observedAtMs = Date.now();
    // VMs whose move failed for a reason of their own: their definition is read again each tick,
    // so a fix (a device detached) is noticed and the VM becomes movable again.
    const watch = new Set((options.recentFailures ?? []).filter((f) => isVmBoundFailure(f.error)).map((f) => f.vmUuid));
    const migrating = new Set((options.inFlight ?? []).map((m) => m.vmUuid));
    const tick = ++this.tick;
    this.repeatedThisTick = false;
    const results = await Promise.all(this.config.hosts.map((host) => this.collectHost(host, observedAtMs, watch, migrating)));
    const hosts = results.map((r) => r.host);
    const everyCopy = results.flatMap((r) => r.vms);
    // Every VM read once (the usual tick): nothing to deduplicate and no duplicate to look for,
    // which saves two maps of every VM a tick (300,000 entries at 10,000 hosts).
    if (!this.repeatedThisTick) return this.finish(options, observedAtMs, tick, results, hosts, everyCopy);
    const duplicates = findDuplicateVms(everyCopy, options.inFlight ?? []);
    for (const d of duplicates)
      this.deps.logger.error(
        { vm: d.name, uuid: d.uuid, hosts: d.hosts },
        'the same VM (one UUID) is active on several hosts outside a migration; it is not moved until one copy is gone',
      );
    const deduped = dedupeMigrating(everyCopy);
    const duplicateOf = new Map(duplicates.map((d) => [d.uuid, d]));
    const vms =
      duplicateOf.size === 0
        ? deduped
        : deduped.map((vm) => {
            const d = duplicateOf.get(vm.uuid);
            return d ? { ...vm, alsoActiveOn: d.hosts.filter((h) => h !== vm.host) } : vm;
          });
    return this.finish(options, observedAtMs, tick, results, hosts, vms);
  }

  /** The state of a tick from its VMs (deduplicated): forget VMs gone, add jobs found to the moves in flight, publish. */
  private finish(
    options: CollectOptions,
    observedAtMs: number,
    tick: number,
    results: readonly { host: HostObservation }[],
    hosts: HostObservation[],
    vms: VmObservation[],
  ): ClusterState {
    // A VM not read this tick is forgotten unless its host is down this tick (it comes back with its window).
    const downHosts = new Set(results.filter((r) => !r.host.up).map((r) => r.host.name));
    // forEach, not for-of: no entry array per VM (300,000 a tick at 10,000 hosts).
    this.vms.forEach((memo, uuid) => {
      if (memo.readInTick !== tick && !downHosts.has(memo.host)) this.vms.delete(uuid);
    });
    const inFlight: InFlightMigration[] = [...(options.inFlight ?? [])];
    const inFlightVms = new Set(inFlight.map((m) => m.vmUuid));
    for (const vm of vms) {
      if (vm.jobRunning && !inFlightVms.has(vm.uuid)) {
        inFlightVms.add(vm.uuid);
        inFlight.push({ vmUuid: vm.uuid, vmName: vm.name, from: vm.host, to: '', startedAtMs: observedAtMs });
      }
    }
    const state: ClusterState = {
      observedAtMs,
      hosts,
      vms,
      inFlight,
      lastMovedAtMs: {},
      recentMoves: [],
      recentFailures: [],
    };
    this.publish(state);
    this.lastState = state;
    return state;
  }

  private publish(state: ClusterState): void {
    const m = this.deps.metrics;
    if (!m) return;
    m.vmCpuUtilization.reset();
    m.vmMemoryBytes.reset();
    // Counted in one pass: a filter of every VM per host is hosts x VMs (3e9 steps at 10,000 hosts).
    const vmsPerHost = new Map<string, number>();
    for (const v of state.vms) vmsPerHost.set(v.host, (vmsPerHost.get(v.host) ?? 0) + 1);
    for (const h of state.hosts) {
      m.hostUp.set({ host: h.name }, h.up ? 1 : 0);
      if (!h.up) continue;
      m.hostCpuUtilization.set({ host: h.name }, h.cpuUtilization.mean);
      m.hostMemoryUsedBytes.set({ host: h.name }, h.memoryUsedBytes);
      m.hostMemoryTotalBytes.set({ host: h.name }, h.memoryTotalBytes);
      m.hostVms.set({ host: h.name }, vmsPerHost.get(h.name) ?? 0);
    }
    for (const v of state.vms) {
      m.vmCpuUtilization.set({ host: v.host, vm: v.name }, v.cpuUtilization.mean);
      m.vmMemoryBytes.set({ host: v.host, vm: v.name }, v.memoryBytes);
    }
    m.clusterImbalance.set(clusterImbalance(state.hosts));
  }

  private hostMemo(name: string): HostMemo {
    let memo = this.hosts.get(name);
    if (!memo) {
      memo = { window: new SampleWindow(this.config.loop.windowSamples), jobs: new HostJobWatch() };
      this.hosts.set(name, memo);
    }
    return memo;
  }

  private downHost(host: HostConfig, reason: string): { host: HostObservation; vms: VmObservation[] } {
    const memo = this.hostMemo(host.name);
    return {
      host: {
        name: host.name,
        uri: host.uri,
        up: false,
        downReason: reason,
        maintenance: host.maintenance,
        cpuCount: host.capacity?.cpuCount ?? memo.nodeCpus ?? 0,
        memoryTotalBytes: host.capacity?.memoryMiB !== undefined ? host.capacity.memoryMiB * MiB : (memo.nodeMemoryBytes ?? 0),
        cpuOvercommitRatio: host.cpuOvercommitRatio,
        memoryOvercommitRatio: host.memoryOvercommitRatio,
        cpuUtilization: { last: 0, mean: 0, p90: 0, samples: 0 },
        memoryUsedBytes: 0,
        labels: host.labels,
      },
      vms: [],
    };
  }

  /** The per-host bound on one tick's reads (and each dirty-rate step), ms. */
  private hostBoundMs(): number {
    return this.deps.hostReadBoundMs ?? Math.min(HOST_READ_BOUND_MS, this.config.libvirt.callTimeoutSeconds * 1000);
  }

  private async collectHost(
    host: HostConfig,
    nowMs: number,
    watch: ReadonlySet<string>,
    migrating: ReadonlySet<string>,
  ): Promise<{ host: HostObservation; vms: VmObservation[] }> {
    const conn = this.connections.get(host.name);
    if (!conn) return this.downHost(host, this.connections.status(host.name).downReason ?? 'not connected');
    const since = this.stillReading.get(host.name);
    if (since !== undefined)
      return this.downHost(
        host,
        `slow: libvirt on ${host.name} has not answered an earlier tick's reads for ${Math.round((nowMs - since) / 1000)} s; left out of this tick`,
      );
    // A host's first tick reads its capabilities (hundreds of KB of XML) and every VM's
    // definition: at most FIRST_READS_AT_ONCE hosts at a time, so a controller starting on
    // thousands of hosts does not hold all their replies at once (10,000 hosts ran out of a 4 GB
    // heap). The host's read bound starts once its turn comes.
    const first = this.hosts.get(host.name)?.nodeCpus === undefined;
    if (first) await this.firstReads.acquire();
    const read = this.readHost(host, conn, nowMs, watch, migrating);
    if (first) void read.catch(() => {}).finally(() => this.firstReads.release());
    try {
      return await withinHostBound(host.name, this.hostBoundMs(), read);
    } catch (error) {
      if (error instanceof HostSlowError) {
        this.stillReading.set(host.name, nowMs);
        void read.catch(() => {}).finally(() => this.stillReading.delete(host.name));
        this.deps.metrics?.hostSlowTicksTotal.inc({ host: host.name });
        this.deps.logger.warn({ host: host.name, boundSeconds: error.boundMs / 1000 }, error.message);
        return this.downHost(host, error.message);
      }
      const reason = this.connections.recordError(host.name, error);
      this.deps.logger.warn({ host: host.name, reason }, 'reading the host failed; treated as down this tick');
      return this.downHost(host, reason);
    }
  }

  private async readHost(
    host: HostConfig,
    conn: LibvirtConnection,
    nowMs: number,
    watch: ReadonlySet<string>,
    migrating: ReadonlySet<string>,
  ): Promise<{ host: HostObservation; vms: VmObservation[] }> {
    const memo = this.hostMemo(host.name);
    // Subscribed before the stats are read, so a migration starting meanwhile is not missed.
    await memo.jobs.attach(conn);
    if (memo.nodeCpus === undefined) {
      const [info, caps] = await Promise.all([conn.nodeGetInfo(), conn.connectGetCapabilities()]);
      memo.nodeCpus = info.cpus;
      memo.nodeMemoryBytes = Number(info.memoryKiB) * 1024;
      const cpu = parseCapabilitiesCpu(caps);
      const interned = this.interned;
      memo.cpuModel = interned.maybe(cpu.model);
      memo.cpuFeatures = interned.list(cpu.features);
      const hostCaps = parseHostCapabilities(caps);
      memo.hostUuid = interned.maybe(hostCaps.uuid);
      memo.hugepageSizesKiB = hostCaps.hugepageSizesKiB;
      memo.hugepageTotals = hostCaps.hugepageTotals;
      memo.cellCount = hostCaps.cellCount;
      memo.cells = hostCaps.cells;
      memo.suspendTargets = hostCaps.suspendTargets;
      // CPU compatibility compares every feature (the host-model CPU expanded), per domain type;
      // libvirt's default type (kvm where the host has it) is the host's own view.
      const guestCpus = await readHostGuestCpus(conn);
      memo.cpuByDomainType = Object.fromEntries(
        Object.entries(guestCpus.byDomainType).map(([type, view]) => [
          type,
          { model: interned.maybe(view.model), features: interned.list(view.features), modelBlockers: interned.record(view.modelBlockers) },
        ]),
      );
      const own = memo.cpuByDomainType.kvm ?? memo.cpuByDomainType.qemu;
      if (own) {
        memo.cpuModel = own.model ?? memo.cpuModel;
        memo.cpuFeatures = own.features;
        memo.cpuModelBlockers = own.modelBlockers;
      } else {
        this.deps.logger.warn(
          { host: host.name, failures: guestCpus.failures },
          'host CPU features could not be expanded (domain capabilities / baseline); CPU compatibility uses the capabilities feature list',
        );
      }
    }
    // Node CPU/memory stats are optional: some drivers (libvirt's test driver) lack them. The
    // free hugepages are asked at the same time (readHugepages never rejects): the host's calls
    // of a tick leave in one write (session.ts), one system call a host instead of two.
    const hugepagesRead = this.readHugepages(host, conn, memo);
    const [cpuStats, memStats, records] = await Promise.all([
      conn.nodeGetCpuStats(-1).catch(() => undefined),
      conn.nodeGetMemoryStats(-1).catch(() => undefined),
      // NOWAIT: without it libvirt holds the reply for a VM with a job running (an incoming
      // migration's destination: 20-30 s seen in the lab), stalling every tick during a migration.
      conn.connectGetAllDomainStats(
        DomainStatsTypes.STATE | DomainStatsTypes.CPU_TOTAL | DomainStatsTypes.BALLOON | DomainStatsTypes.VCPU | DomainStatsTypes.BLOCK,
        GetAllDomainStatsFlags.NOWAIT,
        collectedParam,
      ),
    ]);
    // Most VMs need no call of their own in a tick: their observation is built at once, and only
    // the few that do (a new VM, a job to read) wait — no promise per VM (300,000 at 10,000 hosts).
    const vms = new Array<VmObservation>(records.length);
    const reading: Promise<void>[] = [];
    for (let i = 0; i < records.length; i++) {
      const { domain, params } = records[i];
      const vm = this.readVm(host, conn, domain, params, nowMs, watch, memo.jobs, migrating);
      if (vm instanceof Promise)
        reading.push(
          vm.then((v) => {
            vms[i] = v;
          }),
        );
      else vms[i] = vm;
    }
    if (reading.length > 0) await Promise.all(reading);
    memo.jobs.endTick();
    const hugepages = await hugepagesRead;

    const cpuCount = host.capacity?.cpuCount ?? memo.nodeCpus!;
    let cpuUtilization;
    if (host.capacity?.cpuCount !== undefined || !cpuStats) {
      // From the host's own VMs against the configured capacity, summed from their windows, so a
      // VM that just arrived or left counts at once. Per instant, then the statistics: the host's
      // p90 is the p90 of the summed samples, never the sum of its VMs' p90s (issue 24).
      const running = vms.filter((vm) => vm.state === 'running');
      cpuUtilization = summedWindow(
        running.map((vm) => ({ window: vm.cpuUtilization, weight: cpuCount > 0 ? vm.vcpus / cpuCount : 0 })),
        this.config.loop.windowSamples,
        { cap: 1.5, emptySamples: this.config.loop.windowSamples },
      );
    } else {
      const idle = cpuStats.idle ?? 0n;
      const busy = (cpuStats.kernel ?? 0n) + (cpuStats.user ?? 0n) + (cpuStats.iowait ?? 0n);
      const current = { busyNs: busy, totalNs: busy + idle };
      const previous = memo.cpuCounters;
      memo.cpuCounters = current;
      if (previous && current.totalNs > previous.totalNs && current.busyNs >= previous.busyNs) {
        memo.window.push(Number(current.busyNs - previous.busyNs) / Number(current.totalNs - previous.totalNs));
      }
      cpuUtilization = memo.window.value();
    }

    // Shut-off definitions hold no memory; hugepage pools serve hugepage-backed VMs only.
    const { memoryTotalBytes, memoryUsedBytes } = hostMemory({
      nodeMemoryBytes: memo.nodeMemoryBytes!,
      capacityMiB: host.capacity?.memoryMiB,
      memStats,
      vms,
      hugepages,
    });
    return {
      host: {
        name: host.name,
        uri: host.uri,
        up: true,
        maintenance: host.maintenance,
        cpuCount,
        memoryTotalBytes,
        cpuOvercommitRatio: host.cpuOvercommitRatio,
        memoryOvercommitRatio: host.memoryOvercommitRatio,
        cpuUtilization,
        memoryUsedBytes,
        hugepages,
        hostUuid: memo.hostUuid,
        cpuModel: memo.cpuModel,
        cpuFeatures: memo.cpuFeatures,
        cpuModelBlockers: memo.cpuModelBlockers,
        cpuByDomainType: memo.cpuByDomainType,
        topology: memo.cells && memo.cells.length > 0 ? { cells: memo.cells } : undefined,
        suspendTargets: memo.suspendTargets,
        libvirtVersion: conn.versions.libvirtVersion,
        hypervisorVersion: conn.versions.hypervisorVersion,
        labels: host.labels,
      },
      vms,
    };
  }

  /**
   * Free pages of each hugepage size, summed over NUMA cells (totals from capabilities, read once).
   * Undefined when the host has no hugepage sizes or the call failed: unknown, so a
   * hugepage-backed VM is not sent there.
   */
  private async readHugepages(host: HostConfig, conn: LibvirtConnection, memo: HostMemo): Promise<HugepagePool[] | undefined> {
    const sizes = memo.hugepageSizesKiB ?? [];
    if (sizes.length === 0) return undefined;
    try {
      const counts = await conn.nodeGetFreePages(sizes, 0, memo.cellCount ?? 1);
      return sizes.map((pageSizeKiB, i) => {
        let freePages = 0;
        for (let at = i; at < counts.length; at += sizes.length) freePages += Number(counts[at]);
        return { pageSizeKiB, totalPages: memo.hugepageTotals?.get(pageSizeKiB) ?? 0, freePages };
      });
    } catch (error) {
      this.deps.logger.warn(
        { host: host.name, reason: this.connections.recordError(host.name, error) },
        'free hugepages could not be read; hugepage-backed VMs are not sent to this host this tick',
      );
      return undefined;
    }
  }

  /**
   * One VM's observation from its bulk-stats record: synchronous when the tick needs no call of
   * its own (the usual case), else a promise for the calls (tags and XML once, job info when
   * job-watch.ts asks for it).
   */
  private readVm(
    host: HostConfig,
    conn: LibvirtConnection,
    domain: DomainRef,
    params: TypedParams,
    nowMs: number,
    watch: ReadonlySet<string>,
    jobs: HostJobWatch,
    migrating: ReadonlySet<string>,
  ): VmObservation | Promise<VmObservation> {
    const stateCode = num(params, 'state.state') ?? DomainState.NOSTATE;
    const state = vmState(stateCode);
    const vcpus = num(params, 'vcpu.current') ?? num(params, 'vcpu.maximum') ?? 1;
    const cpuTimeNs = counterValue(big(params, 'cpu.time') ?? 0n);
    let memo = this.vms.get(domain.uuid);
    let created: VmMemo | undefined;
    if (!memo) {
      // Every field set here, the optional ones undefined: the memo keeps one shape, its fields
      // in the object itself (fields added later took a second, out-of-object store per VM).
      memo = created = {
        uuid: domain.uuid,
        name: domain.name,
        host: host.name,
        readInTick: this.tick,
        cpuTimeNs,
        atMs: nowMs,
        window: new SampleWindow(this.config.loop.windowSamples),
        tags: undefined,
        cpuModel: undefined,
        guestCpu: undefined,
        placement: undefined,
        copyTargets: undefined,
        dirtyRateMiBps: undefined,
        dirtyRateMeasuredAtMs: undefined,
        hugepageSizeKiB: undefined,
        migrationBlockers: undefined,
        definition: undefined,
        definitionChangedAtMs: undefined,
        withConfig: undefined,
      };
      this.vms.set(domain.uuid, memo);
    } else if (memo.host !== host.name && state === 'paused' && num(params, 'state.reason') === DomainPausedReason.MIGRATION) {
      // The destination's paused copy during a migration: the VM's counters stay with its source.
    } else if (memo.host !== host.name) {
      // Moved: its counters restart on the new host (no delta across hosts), but its demand moved
      // with it, so the window is kept — otherwise the new host would look idle for a tick.
      memo.host = host.name;
      memo.cpuTimeNs = cpuTimeNs;
      memo.atMs = nowMs;
    } else {
      const ratio = state === 'running' ? rateRatio({ counterNs: memo.cpuTimeNs, atMs: memo.atMs }, { counterNs: cpuTimeNs, atMs: nowMs }, vcpus) : 0;
      if (ratio !== undefined) memo.window.push(ratio);
      memo.cpuTimeNs = cpuTimeNs;
      memo.atMs = nowMs;
    }
    if (memo.name !== domain.name) memo.name = domain.name;
    // Read twice in one tick: a copy on another host (a migration, a VM started twice).
    if (memo.readInTick === this.tick && memo !== created) this.repeatedThisTick = true;
    memo.readInTick = this.tick;
    const readDefinition = memo.copyTargets === undefined || watch.has(domain.uuid);
    const readJob = jobs.needsJobInfo(domain.uuid, stateCode, num(params, 'state.reason'), migrating.has(domain.uuid));
    if (memo.tags === undefined || readDefinition || readJob)
      return this.readVmCalls(conn, domain, memo, nowMs, readDefinition, readJob, jobs).then((jobRunning) =>
        this.vmObservation(host, params, memo, state, vcpus, jobRunning),
      );
    return this.vmObservation(host, params, memo, state, vcpus, false);
  }

  /** The VM's own calls this tick: its tags and definition (once, or while watched), its job (when asked); resolves to whether a job runs. */
  private async readVmCalls(
    conn: LibvirtConnection,
    domain: DomainRef,
    memo: VmMemo,
    nowMs: number,
    readDefinition: boolean,
    readJob: boolean,
    jobs: HostJobWatch,
  ): Promise<boolean> {
    if (memo.tags === undefined) memo.tags = this.shared.of(await this.readTags(conn, domain));
    const localDisks = memo.tags.includes('local-disks');
    // The definition is read once per VM (again each tick while a VM-bound failure holds): its CPU
    // model, the disks a storage copy would move, its hugepages and what blocks migrating it.
    if (readDefinition) {
      const xml = await conn.domainGetXmlDesc(domain).catch(() => '');
      // Kept for the VM's life: shared with every VM whose parts are equal (shared-values.ts).
      if (xml) {
        memo.guestCpu = this.shared.of(parseGuestCpu(xml));
        memo.cpuModel = memo.guestCpu.model;
        memo.placement = this.shared.of(safePlacement(xml, domain.name, this.deps.logger));
      }
      memo.copyTargets = this.shared.of(disksToCopy(xml).map((d) => d.target));
      memo.hugepageSizeKiB = hugepageSizeKiB(xml);
      memo.migrationBlockers = this.shared.of(migrationBlockers(xml, localDisks));
      const fingerprint = xml ? definitionFingerprint(xml) : undefined;
      if (memo.definition !== undefined && fingerprint !== undefined && fingerprint !== memo.definition) memo.definitionChangedAtMs = nowMs;
      if (fingerprint !== undefined) memo.definition = fingerprint;
    }
    if (!readJob) return false;
    const job = await conn.domainGetJobInfo(domain).catch(() => undefined);
    const jobRunning = job !== undefined && (job.type === DomainJobType.BOUNDED || job.type === DomainJobType.UNBOUNDED);
    jobs.record(domain.uuid, jobRunning);
    return jobRunning;
  }

  /** The VM's tags with the config's (config-tags.ts), kept per VM until its tags or the policy config change. */
  private vmTags(name: string, memo: VmMemo): string[] {
    const policy = this.config.policy;
    const kept = memo.withConfig;
    if (kept && kept.tags === memo.tags && kept.policy === policy && kept.name === name) return kept.result;
    const result = this.shared.of(withConfigTags(name, memo.tags ?? [], policy));
    memo.withConfig = { tags: memo.tags, policy, name, result };
    return result;
  }

  private vmObservation(host: HostConfig, params: TypedParams, memo: VmMemo, state: VmState, vcpus: number, jobRunning: boolean): VmObservation {
    const tags = this.vmTags(memo.name, memo);
    const blockCount = num(params, 'block.count') ?? 0;
    // Only the disks a copy moves, at their capacity: libvirt mirrors (and counts) the whole disk.
    let diskBytes = 0;
    if (memo.copyTargets && memo.copyTargets.length > 0)
      for (let i = 0; i < blockCount; i++) {
        const name = params[`block.${i}.name`];
        if (typeof name === 'string' && memo.copyTargets.includes(name)) diskBytes += num(params, `block.${i}.capacity`) ?? 0;
      }
    const disksShared = !tags.includes('local-disks');
    return {
      name: memo.name,
      uuid: memo.uuid,
      host: host.name,
      state,
      vcpus,
      cpuUtilization: memo.window.value(),
      memoryBytes: kibBytes(params, 'balloon.current') ?? 0,
      maxMemoryBytes: kibBytes(params, 'balloon.maximum') ?? kibBytes(params, 'balloon.current') ?? 0,
      rssBytes: kibBytes(params, 'balloon.rss'),
      balloonUsableBytes: kibBytes(params, 'balloon.usable'),
      balloonUnusedBytes: kibBytes(params, 'balloon.unused'),
      dirtyRateMiBps: memo.dirtyRateMiBps,
      dirtyRateMeasuredAtMs: memo.dirtyRateMeasuredAtMs,
      jobRunning,
      disksShared,
      localDiskBytes: disksShared ? 0 : diskBytes,
      cpuModel: memo.cpuModel,
      cpuMode: memo.guestCpu?.mode,
      domainType: memo.guestCpu?.domainType,
      cpuRequiredFeatures: memo.guestCpu?.requiredFeatures,
      cpuDisabledFeatures: memo.guestCpu?.disabledFeatures,
      pinnedHostCpus: memo.placement?.pinnedHostCpus,
      numaNodeset: memo.placement?.numaNodeset,
      tags,
      hugepageSizeKiB: memo.hugepageSizeKiB,
      migrationBlockers: memo.migrationBlockers,
      definitionChangedAtMs: memo.definitionChangedAtMs,
    };
  }

  private async readTags(conn: LibvirtConnection, domain: DomainRef): Promise<string[]> {
    try {
      return parseTags(await conn.domainGetMetadata(domain, MetadataType.ELEMENT, TAG_NAMESPACE_URI, 0));
    } catch (error) {
      if (error instanceof LibvirtError && error.codeName === 'VIR_ERR_NO_DOMAIN_METADATA') return [];
      return [];
    }
  }

  /**
   * Run libvirt's dirty-rate calculation for these VMs (candidates only: it costs the guest a
   * little) and keep the results, so later states carry dirtyRateMiBps.
   */
  async measureDirtyRates(vmUuids: readonly string[], seconds: number): Promise<Map<string, number>> {
    const measured = new Map<string, number>();
    const byHost = new Map<string, DomainRef[]>();
    const wanted = new Map<string, string[]>();
    for (const uuid of vmUuids) {
      const memo = this.vms.get(uuid);
      if (memo && this.connections.get(memo.host)) wanted.set(memo.host, [...(wanted.get(memo.host) ?? []), uuid]);
    }
    // Hosts in parallel, each within the per-host bound: one hung driver delays only its own VMs.
    await Promise.all(
      [...wanted].map(async ([host, uuids]) => {
        const conn = this.connections.get(host);
        if (!conn) return;
        for (const uuid of uuids) {
          try {
            const dom = await withinHostBound(host, this.hostBoundMs(), conn.domainLookupByUuid(uuid));
            await withinHostBound(host, this.hostBoundMs(), conn.domainStartDirtyRateCalc(dom, seconds, 0));
            byHost.set(host, [...(byHost.get(host) ?? []), dom]);
          } catch (error) {
            this.deps.logger.warn({ vm: uuid, host, reason: this.connections.recordError(host, error) }, 'dirty-rate calculation could not start');
            if (error instanceof HostSlowError) return;
          }
        }
      }),
    );
    if (byHost.size === 0) return measured;
    const deadline = Date.now() + seconds * 1000 + 5000;
    await new Promise((r) => setTimeout(r, seconds * 1000 + 200));
    while (Date.now() < deadline && measured.size < [...byHost.values()].flat().length) {
      const answers = await Promise.all(
        [...byHost].map(async ([host, doms]) => {
          const conn = this.connections.get(host);
          if (!conn) return { doms, records: [] };
          const stats = conn.connectGetAllDomainStats(DomainStatsTypes.DIRTYRATE, GetAllDomainStatsFlags.NOWAIT);
          return { doms, records: await withinHostBound(host, this.hostBoundMs(), stats).catch(() => []) };
        }),
      );
      for (const { doms, records } of answers) {
        for (const record of records) {
          if (!doms.some((d) => d.uuid === record.domain.uuid) || measured.has(record.domain.uuid)) continue;
          // calc_status 2 = measured (virDomainDirtyRateStatus).
          if (num(record.params, 'dirtyrate.calc_status') !== 2) continue;
          const rate = num(record.params, 'dirtyrate.megabytes_per_second');
          if (rate === undefined) continue;
          measured.set(record.domain.uuid, rate);
          const memo = this.vms.get(record.domain.uuid);
          if (memo) {
            memo.dirtyRateMiBps = rate;
            memo.dirtyRateMeasuredAtMs = Date.now();
          }
        }
      }
      if (measured.size < [...byHost.values()].flat().length) await new Promise((r) => setTimeout(r, 250));
    }
    return measured;
  }
}

/** Open connections, take two samples a short interval apart (so rates exist) and return the state. */
export async function collectOnce(
  config: Config,
  deps: { logger: Logger; metrics?: Metrics; sampleIntervalMs?: number; expectedDown?: ReadonlySet<string> },
): Promise<{ state: ClusterState; collector: Collector; connections: HostConnections; close(): Promise<void> }> {
  const connections = new HostConnections(config, deps);
  // Hosts a power action has down on purpose (from the journal): unreachable without a warning.
  if (deps.expectedDown) connections.setExpectedDown(deps.expectedDown);
  await connections.start();
  const collector = new Collector(config, connections, deps);
  await collector.collect();
  await new Promise((r) => setTimeout(r, deps.sampleIntervalMs ?? 1000));
  const state = await collector.collect();
  return { state, collector, connections, close: () => connections.close() };
}
