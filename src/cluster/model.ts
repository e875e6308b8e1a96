/**
 * The cluster model: what one tick of collection observed, smoothed over the sampling window.
 * Every later stage (policy engine, simulator, executor admission) reads this and nothing else,
 * so the same planning code runs live, in --dry-run, in the simulator and in tests.
 *
 * Units are in the names. Ratios are 0..1 (CPU ratios are of the host's or VM's own capacity,
 * so a VM using 2 of its 4 vCPUs has cpuUtilizationRatio 0.5).
 */
import type { SuspendTarget } from './capabilities.js';

/** Bytes in a KiB and a MiB: libvirt reports memory in KiB, config and figures use MiB. */
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Mean and a high percentile over the sampling window, so one spike does not move a VM. */
export interface WindowedValue {
  /** Most recent sample. */
  last: number;
  /** Mean over the window (what hot-spot and spread judgements use). */
  mean: number;
  /** 90th percentile over the window. */
  p90: number;
  /** Number of samples the window holds (0 when nothing has been measured yet). */
  samples: number;
  /** Least-squares slope over the window, per sample (undefined with fewer than 2 samples or when not computed). */
  slopePerSample?: number;
  /**
   * The window's samples, oldest first. A host's statistics over several VMs come from the
   * per-instant sum of these (cluster/window.ts sumWindows), never from a sum of the VMs' p90s
   * (issue 24: ten VMs each at their p90 at different instants are not a host at the sum).
   * Undefined where only the summary is known.
   */
  series?: readonly number[];
}

export type VmState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'pmsuspended' | 'blocked' | 'other';

/**
 * States in which a domain's QEMU process exists and holds its memory. Crashed counts: libvirt
 * shows a domain crashed only while its QEMU process is kept for inspection (<on_crash>preserve</on_crash>;
 * the other actions stop or restart it: libvirt src/qemu/qemu_driver.c processGuestPanicEvent).
 */
export function holdsMemory(state: VmState): boolean {
  return state === 'running' || state === 'blocked' || state === 'paused' || state === 'pmsuspended' || state === 'crashed';
}

export interface VmObservation {
  /** libvirt's domain name. */
  name: string;
  /** libvirt's domain UUID: what identifies the VM across hosts, moves and the journal. */
  uuid: string;
  /** Name of the host (as in config) the VM runs on. */
  host: string;
  /** libvirt's domain state; only running VMs are balancing candidates. */
  state: VmState;
  /** vCPUs the domain has now. */
  vcpus: number;
  /** CPU use as a share of the VM's own vCPUs (cpu.time delta / (wall delta x vcpus)). */
  cpuUtilization: WindowedValue;
  /** Memory the guest is configured with right now (balloon.current, bytes). */
  memoryBytes: number;
  /** Maximum memory (balloon.maximum, bytes). */
  maxMemoryBytes: number;
  /** Resident set of the QEMU process when libvirt reports it (balloon.rss), bytes. */
  rssBytes?: number;
  /** Guest-reported usable memory when a balloon driver reports it (balloon.usable), bytes. */
  balloonUsableBytes?: number;
  /** Guest-reported unused memory when a balloon driver reports it (balloon.unused), bytes. */
  balloonUnusedBytes?: number;
  /** Page-dirtying rate measured by libvirt's dirty-rate calculation or the last migration job, MiB/s. */
  dirtyRateMiBps?: number;
  /** When dirtyRateMiBps was measured (ms since epoch). */
  dirtyRateMeasuredAtMs?: number;
  /** A migration (or other) job is running on this VM now. */
  jobRunning: boolean;
  /** True when every disk is on storage both hosts share (no storage copy needed). */
  disksShared: boolean;
  /** Total bytes of non-shared disks that a storage copy would move. */
  localDiskBytes: number;
  /** Guest CPU model name from the domain XML, when it names one (for CPU compatibility). */
  cpuModel?: string;
  /**
   * The guest CPU's `<cpu mode>` in the domain XML ('none' when there is no `<cpu>` element: the
   * hypervisor's default model); undefined when unknown (then the source's CPU is what it needs).
   */
  cpuMode?: 'custom' | 'host-model' | 'host-passthrough' | 'maximum' | 'none';
  /** `<domain type>` ('kvm', 'qemu'), when read: the domain capabilities its CPU is compared with. */
  domainType?: string;
  /** CPU features the domain XML requires (`<cpu><feature policy='require'|'force'>`), libvirt's names. */
  cpuRequiredFeatures?: string[];
  /** Features of its model the domain XML disables (`policy='disable'|'forbid'`): a target may lack them. */
  cpuDisabledFeatures?: string[];
  /**
   * Host CPU ids the VM is pinned to: the union of `<vcpu cpuset>`, `<cputune>` `<vcpupin cpuset>`,
   * `<emulatorpin cpuset>` and `<iothreadpin cpuset>`; undefined when not pinned.
   */
  pinnedHostCpus?: number[];
  /** Host NUMA nodes its memory is bound to (`<numatune><memory nodeset>`, `<memnode nodeset>`); undefined when not bound. */
  numaNodeset?: number[];
  /** Tags from libvirt metadata (virt-balancer namespace) and config: e.g. "pinned", "group:web". */
  tags: string[];
  /**
   * Size of the hugepages backing the guest's memory, KiB (`<memoryBacking><hugepages>` in its
   * domain XML); undefined for ordinary memory. A hugepage-backed VM takes free pages of this
   * size on a host, never its ordinary memory.
   */
  hugepageSizeKiB?: number;
  /**
   * What in the domain XML keeps the VM from being migrated (a PCI host device, a CD-ROM on
   * host-local storage, ...), one reason each; empty or undefined when nothing does.
   */
  migrationBlockers?: string[];
  /** When the collector saw the domain definition change (ms since epoch); a VM-bound failure older than this no longer holds. */
  definitionChangedAtMs?: number;
  /** Other hosts where a copy with this UUID is active outside a migration (reported; the VM is not moved). */
  alsoActiveOn?: string[];
}

/** One hugepage pool of a host, summed over its NUMA cells. */
export interface HugepagePool {
  /** Page size, KiB (2048 for 2 MiB pages, 1048576 for 1 GiB pages). */
  pageSizeKiB: number;
  /** Pages reserved in the pool (capabilities' per-cell `<pages>` counts). */
  totalPages: number;
  /** Pages free now (virNodeGetFreePages). */
  freePages: number;
}

export interface HostObservation {
  /** Name as in config. */
  name: string;
  /** libvirt connection URI from config (e.g. qemu+tls://kvm1.example.net/system). */
  uri: string;
  /** Reachable right now; a host that is down is never a source or target. */
  up: boolean;
  /** Why the host is down, when it is. */
  downReason?: string;
  /** Flagged for maintenance in config: drain it, never target it. */
  maintenance: boolean;
  /** Logical CPUs the host offers to guests (node info, or the config override). */
  cpuCount: number;
  /** Memory the host offers to guests, bytes (node info, or the config override). */
  memoryTotalBytes: number;
  /** vCPU overcommit from config (1 = none): guests' vCPUs may reach cpuCount x this. */
  cpuOvercommitRatio: number;
  /** Memory overcommit from config (1 = none): guests' configured memory may reach memoryTotalBytes x this. */
  memoryOvercommitRatio: number;
  /**
   * Host CPU utilisation. When the host has a configured capacity it is computed from the VMs on
   * it against that capacity (lab hosts share one kernel, and overcommitted clusters want this);
   * otherwise from node CPU counter deltas.
   */
  cpuUtilization: WindowedValue;
  /**
   * Memory in use, bytes (node memory stats, or the sum of the memory of the VMs that hold some —
   * running, paused — against the capacity). Hugepage pools are outside both this and
   * memoryTotalBytes: they serve hugepage-backed VMs only (see `hugepages`).
   */
  memoryUsedBytes: number;
  /** Hugepage pools by page size, when the host has any and they could be read; undefined when unknown. */
  hugepages?: HugepagePool[];
  /** libvirt's host UUID (capabilities `<host><uuid>`): two entries with one UUID are one host. */
  hostUuid?: string;
  /** Host CPU model name from capabilities, for CPU compatibility filtering. */
  cpuModel?: string;
  /**
   * Every CPU feature the host offers guests, libvirt's names, when known: its host-model CPU
   * (domain capabilities) expanded to all features (virConnectBaselineHypervisorCPU with
   * VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES), so a feature its model implies is listed too.
   */
  cpuFeatures?: string[];
  /**
   * Guest CPU models the host's domain capabilities list (`<mode name='custom'>`), each with the
   * features that keep it from running here (`<blockers>`; [] when usable='yes'); undefined when unknown.
   */
  cpuModelBlockers?: Record<string, string[]>;
  /**
   * The same per domain type (`kvm`, `qemu` for TCG), each from the domain capabilities of that
   * virt type: a guest is compared with the view of its own `<domain type>` (TCG emulates another
   * CPU than KVM exposes). cpuModel/cpuFeatures/cpuModelBlockers are libvirt's default type's.
   */
  cpuByDomainType?: Record<string, { model?: string; features: string[]; modelBlockers: Record<string, string[]> }>;
  /** NUMA cells and their logical CPU ids (capabilities `<host><topology><cells>`); undefined when unknown (then CPUs 0..cpuCount-1 in one cell). */
  topology?: { cells: { id: number; cpuIds: number[] }[] };
  /** Node suspend targets its capabilities list under `<power_management>` (power.action node-suspend); undefined when unknown. */
  suspendTargets?: SuspendTarget[];
  /** libvirt version as major*1e6 + minor*1e3 + micro (read at connect). */
  libvirtVersion?: number;
  /** Hypervisor (QEMU) version, same encoding (virConnectGetVersion, read at connect). */
  hypervisorVersion?: number;
  /** Labels from config (e.g. "rack:a"); policies may use them. */
  labels: Record<string, string>;
  /**
   * Where a power action (config power:, src/power/) has this host: being powered down, standby
   * (powered down or suspended on purpose: its unreachability is expected), or woken and not yet
   * answering. Undefined for an awake host. Such a host is never a target.
   */
  power?: HostPowerState;
}

/** A host's power state other than awake (src/power/states.ts derives it from the journal). */
export type HostPowerState = 'powering-off' | 'standby' | 'waking';

export interface ClusterState {
  /** When this state was observed (ms since epoch). */
  observedAtMs: number;
  /** Every host in config, up or down. */
  hosts: HostObservation[];
  /** Every VM on every host that is up. */
  vms: VmObservation[];
  /** Migrations running now (from our executor or found on the hosts). */
  inFlight: InFlightMigration[];
  /** When each VM last moved (uuid -> ms since epoch), for cooldown and anti-ping-pong. */
  lastMovedAtMs: Record<string, number>;
  /** Recent moves (newest last), for anti-ping-pong, cooldown growth and pacing (`durationMs`: how long it took, when known). */
  recentMoves: { vmUuid: string; from: string; to: string; atMs: number; durationMs?: number }[];
  /** Moves that ended aborted or failed: the same VM is not sent to the same target again for a while. */
  recentFailures?: { vmUuid: string; from: string; to: string; atMs: number; outcome: string; error?: string }[];
}

export interface InFlightMigration {
  /** The migrating VM's UUID. */
  vmUuid: string;
  /** The migrating VM's name. */
  vmName: string;
  /** Source host (name as in config). */
  from: string;
  /** Target host (name as in config). */
  to: string;
  /** When the migration started (ms since epoch). */
  startedAtMs: number;
}
