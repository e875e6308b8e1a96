/**
 * A simulated cluster behind the same model: hosts with capacity, VMs with CPU demand per tick.
 * Each tick builds a ClusterState (windowed like the collector's), runs the real engine and applies
 * its moves. For what-if runs (`virt-balancer simulate`), policy tests and trace-like replays.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import '../../policies/index.js';
import { withConfigTags } from '../cluster/config-tags.js';
import { parseCpuSet } from '../cluster/guest-cpu.js';
import { holdsMemory, hostMemory } from '../cluster/memory-accounting.js';
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import { summedWindow, windowedValue } from '../cluster/window.js';
import { migrationSchema, type MigrationConfig } from '../config/migration-schema.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import { newPlanMemory, plan, type LoadedPolicy, type Move, type Plan } from '../policy/index.js';
import { waitsForApproval } from '../policy/vm-overrides.js';
import { admit, MoveQueue, type RunningMove } from '../policy/scheduling.js';
import { hugepagesNeeded } from '../policy/memory-fit.js';
import { DecisionHistory } from '../history/index.js';

const MiB = 2 ** 20;

/** A `simulate` scenario (docs/scenario-reference.md is generated from these descriptions). */
/** A version as libvirt prints it: MAJOR.MINOR or MAJOR.MINOR.MICRO. */
const versionString = z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'a version such as "11.3.0" (MAJOR.MINOR.MICRO)');

/** "11.3.0" as libvirt encodes versions: major * 1,000,000 + minor * 1,000 + micro (virConnectGetLibVersion). */
function versionNumber(version: string): number {
  const [major, minor, micro = '0'] = version.split('.');
  return Number(major) * 1_000_000 + Number(minor) * 1_000 + Number(micro);
}

const scenarioBase = z.strictObject({
  /** Seconds between ticks (cooldowns are counted in simulated time). */
  tickSeconds: z.number().positive().default(30).describe('Simulated seconds between ticks (cooldowns and migration times count in this time).'),
  windowSamples: z.number().int().min(1).default(5).describe("Ticks the smoothing window holds (the collector's loop.windowSamples)."),
  /**
   * A move takes its predicted total time times this factor (what-if: migrations slower than the
   * cost model says). Until it completes the VM stays on its source, as a migration in flight.
   */
  migrationTimeFactor: z
    .number()
    .min(0)
    .default(1)
    .describe(
      'A move takes its predicted time times this factor (what-if: migrations slower than the cost model says); until it completes the VM stays on its source, in flight. 0: moves complete at once.',
    ),
  hosts: z
    .array(
      z.strictObject({
        name: z.string().min(1).describe('Host name (vms[].host refers to it).'),
        cpuCount: z.number().int().positive().describe('Logical CPUs.'),
        memoryMiB: z.number().positive().describe('Memory offered to guests, MiB.'),
        maintenance: z.boolean().default(false).describe('In maintenance: drained, never a target.'),
        labels: z.record(z.string(), z.string()).default({}).describe('Labels, as hosts[].labels in the config.'),
        libvirtVersion: versionString.optional().describe('libvirt version, e.g. "11.3.0" (version-monotonic moves; unknown: never held).'),
        qemuVersion: versionString.optional().describe('QEMU version, e.g. "10.0.2" (version-monotonic moves; unknown: never held).'),
        cpuModel: z
          .string()
          .optional()
          .describe('CPU model name (the cpu-compat core filter compares features; a VM of this model needs those of a host of it).'),
        cpuFeatures: z.array(z.string()).optional().describe('CPU feature names of the host.'),
        numaNodes: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe('NUMA nodes; its CPUs are split evenly over them in order (a VM pinned to CPUs or nodes it lacks is no target).'),
        cpuOvercommitRatio: z.number().positive().default(4).describe('vCPUs placed per host CPU at most, as hosts[].cpuOvercommitRatio in the config.'),
        memoryOvercommitRatio: z
          .number()
          .positive()
          .default(1)
          .describe('Guest memory placed per byte of host memory at most, as hosts[].memoryOvercommitRatio in the config.'),
        /** Hugepage pools: pages reserved per page size (KiB); free pages are what its VMs leave. */
        hugepages: z
          .array(
            z.strictObject({
              pageSizeKiB: z.number().int().positive().describe('Page size, KiB (2048 or 1048576 on x86).'),
              pages: z.number().int().min(0).describe('Pages reserved in the pool.'),
            }),
          )
          .optional()
          .describe('Hugepage pools: pages reserved per page size; free pages are what its VMs leave.'),
      }),
    )
    .min(1)
    .describe('The simulated hosts.'),
  vms: z
    .array(
      z.strictObject({
        name: z.string().min(1).describe('VM name (unique).'),
        host: z.string().min(1).describe('The host it starts on: one of hosts[].name.'),
        vcpus: z.number().int().positive().default(1).describe('vCPUs.'),
        memoryMiB: z.number().positive().describe('Memory, MiB.'),
        /** CPU use as a share of its vCPUs: one value, or a series repeated over the ticks. */
        cpu: z
          .union([z.number().min(0).max(1), z.array(z.number().min(0).max(1)).min(1)])
          .describe('CPU use as a share of its vCPUs, 0 to 1: one value, or a list used one per tick and repeated.'),
        dirtyRateMiBps: z.number().min(0).default(0).describe('Guest memory written per second, MiB/s (the technique chooser reads it).'),
        tags: z.array(z.string()).default([]).describe('Tags, as the metadata tags policies read (group:NAME, affinity:NAME, ...).'),
        /** running (default), paused or shutoff: a shut-off VM holds no memory and uses no CPU. */
        state: z.enum(['running', 'paused', 'shutoff']).default('running').describe('A shut-off VM holds no memory and uses no CPU.'),
        /** Backed by hugepages of this size (KiB). */
        hugepageSizeKiB: z.number().int().positive().optional().describe("Backed by hugepages of this size, KiB (from its host's hugepages pool)."),
        cpuModel: z
          .string()
          .optional()
          .describe(
            "Guest CPU model (<cpu mode='custom'><model>): a target needs the features of a host of this model (the source's when no host has it). Omitted: the hypervisor's default CPU, which every host runs.",
          ),
        cpuFeatures: z.array(z.string()).optional().describe("CPU features the guest requires (<feature policy='require'>)."),
        cpuset: z.string().optional().describe('Host CPUs its vCPUs are pinned to, a libvirt cpuset such as "0-3,8" (<cputune><vcpupin cpuset>).'),
        numaNodeset: z.string().optional().describe('NUMA nodes its memory is bound to, e.g. "1" (<numatune><memory nodeset>).'),
        /** What in its definition blocks migration (as the collector reads from domain XML). */
        migrationBlockers: z
          .array(z.string())
          .default([])
          .describe('What in its definition blocks migration, as the collector reads from domain XML (e.g. a host device); such a VM is not moved.'),
      }),
    )
    .min(1)
    .describe('The simulated VMs and their load.'),
});

export const scenarioSchema = scenarioBase.superRefine((scenario, ctx) => {
  const hostNames = new Set<string>();
  scenario.hosts.forEach((h, i) => {
    if (hostNames.has(h.name))
      ctx.addIssue({ code: 'custom', path: ['hosts', i, 'name'], message: `duplicate host name "${h.name}"; give each host its own name` });
    hostNames.add(h.name);
  });
  const vmNames = new Set<string>();
  scenario.vms.forEach((vm, i) => {
    if (vmNames.has(vm.name)) ctx.addIssue({ code: 'custom', path: ['vms', i, 'name'], message: `duplicate VM name "${vm.name}"; give each VM its own name` });
    vmNames.add(vm.name);
    for (const field of ['cpuset', 'numaNodeset'] as const) {
      const set = vm[field];
      if (set === undefined) continue;
      try {
        parseCpuSet(set);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['vms', i, field], message: `VM ${vm.name}: ${(error as Error).message}` });
      }
    }
    if (!hostNames.has(vm.host))
      ctx.addIssue({
        code: 'custom',
        path: ['vms', i, 'host'],
        message: `"${vm.host}" (VM ${vm.name}) is not among hosts ${[...hostNames].join(', ')}; use one of them`,
      });
  });
  impossibleStartStates(scenario, ctx);
});

/**
 * Start states no real host can be in, because libvirt would not start the VM there: pinned to
 * CPUs or NUMA nodes its host lacks, or backed by hugepages its host's pool does not have. (Memory
 * beyond the host's is not among them: a KVM host starts guests past its RAM, lazily allocated.)
 */
function impossibleStartStates(scenario: z.infer<typeof scenarioBase>, ctx: z.RefinementCtx): void {
  const hosts = new Map(scenario.hosts.map((h, index) => [h.name, { host: h, index }]));
  const hugepagesUsed = new Map<string, number>();
  scenario.vms.forEach((vm, i) => {
    const on = hosts.get(vm.host);
    if (!on) return;
    const { host } = on;
    const beyond = (field: 'cpuset' | 'numaNodeset', count: number, what: string) => {
      const set = vm[field];
      if (set === undefined) return;
      let ids: number[];
      try {
        ids = parseCpuSet(set);
      } catch {
        return; // reported above
      }
      const outside = ids.filter((id) => id >= count);
      if (outside.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['vms', i, field],
          message: `VM ${vm.name} is bound to ${what} ${outside.join(',')}, which its host ${host.name} lacks (${what}s 0-${count - 1}): libvirt would not start it there; bind it within 0-${count - 1}, or start it on a host that has them`,
        });
    };
    beyond('cpuset', host.cpuCount, 'CPU');
    beyond('numaNodeset', host.numaNodes, 'NUMA node');
    if (vm.hugepageSizeKiB === undefined || vm.state === 'shutoff') return;
    const pool = host.hugepages?.find((p) => p.pageSizeKiB === vm.hugepageSizeKiB);
    if (!pool) {
      ctx.addIssue({
        code: 'custom',
        path: ['vms', i, 'hugepageSizeKiB'],
        message: `VM ${vm.name} is backed by ${vm.hugepageSizeKiB} KiB hugepages, and its host ${host.name} has no pool of that size: libvirt would not start it there; add the pool to hosts[${on.index}].hugepages`,
      });
      return;
    }
    const key = `${host.name}\u0000${vm.hugepageSizeKiB}`;
    hugepagesUsed.set(key, (hugepagesUsed.get(key) ?? 0) + Math.ceil((vm.memoryMiB * 1024) / vm.hugepageSizeKiB));
  });
  for (const [key, used] of hugepagesUsed) {
    const [hostName, size] = key.split('\u0000');
    const { host, index } = hosts.get(hostName)!;
    const pool = host.hugepages!.find((p) => p.pageSizeKiB === Number(size))!;
    if (used > pool.pages)
      ctx.addIssue({
        code: 'custom',
        path: ['hosts', index, 'hugepages'],
        message: `the VMs starting on ${host.name} need ${used} ${size} KiB hugepages and its pool has ${pool.pages}: libvirt would not start them all; reserve at least ${used} pages or start some elsewhere`,
      });
  }
}
export type Scenario = z.infer<typeof scenarioSchema>;

/** A simulated host's NUMA cells: its CPUs 0..cpuCount-1 split evenly, in order, over `nodes`. */
function cellsOf(cpuCount: number, nodes: number): { id: number; cpuIds: number[] }[] {
  const per = Math.ceil(cpuCount / nodes);
  return Array.from({ length: nodes }, (_, id) => ({ id, cpuIds: Array.from({ length: cpuCount }, (_, c) => c).filter((c) => Math.floor(c / per) === id) }));
}

export interface SimTick {
  tick: number;
  imbalance: number;
  /**
   * Moves started this tick, planned now or queued earlier (they complete after their modelled
   * migration time). Admission (policy/scheduling.ts, the config's migration section) decides when.
   */
  moves: Move[];
  /** VMs whose planned move waits for a slot (over a migration budget) at the end of this tick. */
  queued: string[];
  /**
   * Moves planned this tick that wait for an operator's approval (policy.automation manual or
   * partial, or the VM's own automation): recorded as recommendations by `run`, not run here.
   */
  recommended: Move[];
  hostCpu: Record<string, number>;
  /** VMs migrating at the end of this tick. */
  inFlight: string[];
  /** VMs the engine considered and did not move, with why. */
  skipped: Plan['skipped'];
  /** Policies that threw, timed out or returned garbage this tick. */
  policyErrors: Plan['policyErrors'];
  /** Rules that cannot be met as asked this tick (Plan.notices). */
  notices: NonNullable<Plan['notices']>;
}

interface SimMigration {
  move: Move;
  startedAtMs: number;
  doneAtMs: number;
}

/** One simulated migration, from its start to the VM running on its target (simulated ms). */
export interface SimMigrationSpan {
  vmName: string;
  from: string;
  to: string;
  startedAtMs: number;
  doneAtMs: number;
}

export class Simulator {
  private readonly placement = new Map<string, string>();
  private readonly history = new Map<string, number[]>();
  /** Completed moves, as the controller's journal history keeps them (cooldowns, no ping-pong). */
  private readonly decisions = new DecisionHistory();
  private readonly migrating = new Map<string, SimMigration>();
  /** What the engine carries between ticks (spread hold), as the controller keeps it. */
  private readonly planMemory = newPlanMemory();
  /** Planned moves over a migration budget; each starts when a slot frees (as the executor's queue). */
  private readonly queue = new MoveQueue();
  /** The state the queued moves were planned on (hosts, VM tags and storage do not change mid-tick). */
  private queuedState?: ClusterState;
  private readonly spans: SimMigrationSpan[] = [];
  private startedThisTick: Move[] = [];
  private tickNo = 0;

  constructor(private readonly scenario: Scenario) {
    const hostNames = new Set(scenario.hosts.map((h) => h.name));
    scenario.vms.forEach((vm, i) => {
      if (!hostNames.has(vm.host)) throw new Error(`scenario vms[${i}] (${vm.name}): host "${vm.host}" is not among hosts ${[...hostNames].join(', ')}`);
      this.placement.set(vm.name, vm.host);
    });
  }

  /**
   * A VM's UUID, stable across ticks and distinct per name: from a SHA-256 of the whole name (the
   * last bytes of the name alone made web-prod-01 and db-prod-01 one VM to the engine).
   */
  private uuid(name: string): string {
    const hex = createHash('sha256').update(name).digest('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }

  /**
   * The state the engine would see now, built as the collector builds it: config tags added
   * (policy.pinnedVms), shut-off VMs holding no memory, hugepage pools outside ordinary memory.
   */
  state(policy: Pick<PolicyConfig, 'pinnedVms'> = { pinnedVms: [] }): ClusterState {
    const nowMs = this.nowMs();
    const vms: VmObservation[] = this.scenario.vms.map((vm) => {
      const series = Array.isArray(vm.cpu) ? vm.cpu : [vm.cpu];
      const demand = vm.state === 'running' ? series[this.tickNo % series.length] : 0;
      const samples = [...(this.history.get(vm.name) ?? []), demand].slice(-this.scenario.windowSamples);
      this.history.set(vm.name, samples);
      return {
        name: vm.name,
        uuid: this.uuid(vm.name),
        host: this.placement.get(vm.name)!,
        state: vm.state,
        vcpus: vm.vcpus,
        cpuUtilization: windowedValue(samples),
        memoryBytes: vm.memoryMiB * MiB,
        maxMemoryBytes: vm.memoryMiB * MiB,
        dirtyRateMiBps: vm.dirtyRateMiBps,
        jobRunning: this.migrating.has(vm.name),
        disksShared: true,
        localDiskBytes: 0,
        tags: withConfigTags(vm.name, vm.tags, policy),
        hugepageSizeKiB: vm.hugepageSizeKiB,
        migrationBlockers: vm.migrationBlockers,
        cpuModel: vm.cpuModel,
        // A named model is <cpu mode='custom'>; without one the guest runs the hypervisor's default
        // CPU (no <cpu>, or only required features), which needs nothing of its host beyond those.
        cpuMode: vm.cpuModel ? 'custom' : 'none',
        cpuRequiredFeatures: vm.cpuFeatures,
        pinnedHostCpus: vm.cpuset === undefined ? undefined : parseCpuSet(vm.cpuset),
        numaNodeset: vm.numaNodeset === undefined ? undefined : parseCpuSet(vm.numaNodeset),
      };
    });
    // Grouped once: per-host filters over every VM made a tick grow with hosts x VMs.
    const onHost = new Map<string, VmObservation[]>();
    // The incoming domain of a migration already holds its memory on the target (as libvirt's does).
    const incomingTo = new Map<string, VmObservation[]>();
    const group = (map: Map<string, VmObservation[]>, key: string, vm: VmObservation) => {
      const list = map.get(key);
      if (list) list.push(vm);
      else map.set(key, [vm]);
    };
    for (const vm of vms) {
      group(onHost, vm.host, vm);
      const to = this.migrating.get(vm.name)?.move.to;
      if (to !== undefined) group(incomingTo, to, vm);
    }
    const hosts: HostObservation[] = this.scenario.hosts.map((h) => {
      const mine = onHost.get(h.name) ?? [];
      const incoming = incomingTo.get(h.name) ?? [];
      const holding = [...mine, ...incoming];
      const hugepages = h.hugepages?.map((pool) => {
        const taken = holding
          .filter((v) => holdsMemory(v.state) && v.hugepageSizeKiB === pool.pageSizeKiB)
          .reduce((s, v) => s + (hugepagesNeeded(v)?.pages ?? 0), 0);
        return { pageSizeKiB: pool.pageSizeKiB, totalPages: pool.pages, freePages: Math.max(0, pool.pages - taken) };
      });
      // memoryMiB is the host's memory; its hugepage pools come out of it, as node info counts them.
      const memory = hostMemory({ nodeMemoryBytes: h.memoryMiB * MiB, vms: holding, hugepages });
      return {
        name: h.name,
        uri: `sim://${h.name}`,
        up: true,
        maintenance: h.maintenance,
        cpuCount: h.cpuCount,
        memoryTotalBytes: memory.memoryTotalBytes,
        cpuOvercommitRatio: h.cpuOvercommitRatio,
        memoryOvercommitRatio: h.memoryOvercommitRatio,
        topology: { cells: cellsOf(h.cpuCount, h.numaNodes) },
        // The host's window is the per-instant sum of its VMs' (as the collector builds a
        // capacity host's): its p90 is that sum's, never the sum of the VMs' p90s.
        cpuUtilization: summedWindow(
          mine.map((v) => ({ window: v.cpuUtilization, weight: v.vcpus / h.cpuCount })),
          this.scenario.windowSamples,
          { emptySamples: this.scenario.windowSamples },
        ),
        memoryUsedBytes: memory.memoryUsedBytes,
        hugepages,
        cpuModel: h.cpuModel,
        cpuFeatures: h.cpuFeatures,
        labels: h.labels,
        ...(h.libvirtVersion ? { libvirtVersion: versionNumber(h.libvirtVersion) } : {}),
        ...(h.qemuVersion ? { hypervisorVersion: versionNumber(h.qemuVersion) } : {}),
      };
    });
    const inFlight = [...this.migrating.values()].map((m) => ({
      vmUuid: m.move.vmUuid,
      vmName: m.move.vmName,
      from: m.move.from,
      to: m.move.to,
      startedAtMs: m.startedAtMs,
    }));
    return { observedAtMs: nowMs, hosts, vms, inFlight, lastMovedAtMs: {}, recentMoves: [], recentFailures: [] };
  }

  private nowMs(): number {
    return this.tickNo * this.scenario.tickSeconds * 1000;
  }

  /** What admission counts as running: the migrations in flight. */
  private running(): RunningMove[] {
    return [...this.migrating.values()].map(({ move }) => ({
      vmUuid: move.vmUuid,
      from: move.from,
      to: move.to,
      bandwidthMiBps: move.inputs.bandwidthMiBps,
      copyStorage: move.copyStorage,
    }));
  }

  private startMove(move: Move, atMs: number): void {
    const seconds = move.predicted.totalSeconds * this.scenario.migrationTimeFactor;
    const doneAtMs = atMs + seconds * 1000;
    this.migrating.set(move.vmName, { move, startedAtMs: atMs, doneAtMs });
    this.spans.push({ vmName: move.vmName, from: move.from, to: move.to, startedAtMs: atMs, doneAtMs });
    this.startedThisTick.push(move);
  }

  /**
   * Migrations whose modelled time has passed by `untilMs` land on their target, earliest first;
   * each one's end frees its slot, and the queued moves that fit start at that moment (no waves).
   */
  private completeMigrations(untilMs: number, migration: MigrationConfig): void {
    for (;;) {
      let next: [string, SimMigration] | undefined;
      for (const entry of this.migrating) if (entry[1].doneAtMs <= untilMs && (!next || entry[1].doneAtMs < next[1].doneAtMs)) next = entry;
      if (!next) return;
      const [name, m] = next;
      this.migrating.delete(name);
      this.placement.set(name, m.move.to);
      this.history.delete(name);
      const { vmUuid, from, to, technique, predicted } = m.move;
      this.decisions.observe({ vmUuid, from, to, technique, predicted, outcome: 'completed', totalMs: m.doneAtMs - m.startedAtMs, endedAtMs: m.doneAtMs });
      if (this.queuedState) for (const move of this.queue.next(this.running(), this.queuedState, migration).admitted) this.startMove(move, m.doneAtMs);
    }
  }

  /**
   * One tick: moves whose migration time has passed complete (starting queued moves as slots
   * free), then observe, plan with the real engine and admit its moves under the migration
   * budgets `run` applies (`migration`, default: the config's defaults); the rest wait in the
   * queue. A move shorter than a tick has landed by the next one.
   */
  async tick(options: { config: PolicyConfig; policies?: LoadedPolicy[]; migration?: MigrationConfig }): Promise<SimTick> {
    const migration = options.migration ?? migrationSchema.parse({});
    this.startedThisTick = [];
    this.completeMigrations(this.nowMs(), migration);
    // History through planning's one door (DecisionHistory.view), as controller/pipeline.ts takes it; the
    // learned options stay out: a simulated move's time is the model's, so calibrating on it would be circular.
    const { state } = this.decisions.view(this.state(options.config), migration);
    const result = await plan(state, { config: options.config, policies: options.policies, memory: this.planMemory, admission: migration });
    // What the daemon would only record as a recommendation (policy.automation, a VM's own
    // automation) is not run here either: it is listed as such.
    const waits = (m: Move) => waitsForApproval(m.automation ?? options.config.automation, Boolean(m.mustMove));
    const recommended = result.moves.filter(waits);
    const admission = admit(
      result.moves.filter((m) => !waits(m)),
      this.running(),
      state,
      migration,
      { tickSeconds: this.scenario.tickSeconds },
    );
    // A newer plan supersedes the queue, as the executor's submit does.
    this.queue.replace(admission.rejected.filter((r) => r.waits).map((r) => r.move));
    this.queuedState = state;
    for (const move of admission.admitted) this.startMove(move, state.observedAtMs);
    this.tickNo++;
    // Moves that finish before the next tick are shown as done (the state a caller reads next).
    this.completeMigrations(this.nowMs(), migration);
    return {
      tick: this.tickNo,
      imbalance: result.imbalanceBefore,
      moves: this.startedThisTick,
      queued: this.queue.moves.map((m) => m.vmName),
      recommended,
      hostCpu: Object.fromEntries(state.hosts.map((h) => [h.name, h.cpuUtilization.mean])),
      inFlight: [...this.migrating.keys()],
      skipped: result.skipped,
      policyErrors: result.policyErrors,
      notices: result.notices ?? [],
    };
  }

  /** Every migration started so far, with its simulated start and end. */
  migrations(): readonly SimMigrationSpan[] {
    return this.spans;
  }

  where(vm: string): string | undefined {
    return this.placement.get(vm);
  }
}
