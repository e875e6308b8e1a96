/**
 * Migration scheduling: which planned moves may start now, in which order, and what waits.
 *
 * One module for every caller that starts moves — the executor (`run`, `drain`, `approve`) and the
 * simulator (`simulate`) — so a simulated maintenance window runs under the limits the controller
 * applies. Pure: no clock, no I/O.
 *
 * The cost model (docs/scheduling.md). Each move costs against the resources it uses, and a move
 * starts only while every one of them stays within its budget; otherwise it waits in the queue
 * (never fails). What runs is the caller's running moves, `state.inFlight`, and any job libvirt
 * shows for a VM (`jobRunning`) that neither names:
 * - the cluster: `migration.maxConcurrent` moves at once;
 * - its source host's sending budget (`migration.maxPerSourceHost`, or `hostBudgets[host].send`)
 *   and its target's receiving budget (`maxPerTargetHost`, or `hostBudgets[host].receive`): a live
 *   move costs 1, a move that copies local disks costs `storageCopyCost.host` (4: vSphere charges
 *   a Storage vMotion 4 against a host where a vMotion costs 1);
 * - the migration network of each end (`network:<host>`): every move costs 1; its budget is
 *   `hostBudgets[host].network`, else `migration.networkBudget`, else derived from the link's
 *   measured bandwidth as vSphere sizes it: 4 below 10 GbE, 8 at 10 GbE and above (a link not
 *   measured yet counts as 1 GbE);
 * - datastores: a move of a VM on shared storage costs 1 against the shared datastore, a
 *   storage-copy move costs `storageCopyCost.datastore` (16, vSphere's Storage vMotion figure)
 *   against the local datastore of each end; budget `datastoreBudget` (128, vSphere's);
 * - `bandwidthBudgetMiBps`: the sum of the running moves' bandwidth limits.
 * A move that costs more than a whole budget runs alone on that resource (it waits until the
 * resource is idle) rather than never.
 *
 * Sources: VMware, "vSphere Resource Management" / "vCenter Server and Host Management", limits on
 * simultaneous migrations (network max cost 4 on 1 GbE and 8 on 10 GbE; host max cost 8, vMotion
 * cost 1, Storage vMotion cost 4; datastore max cost 128, vMotion cost 1, Storage vMotion cost 16).
 *
 * Order (priorities): must-moves (maintenance, drain, rule repair, power-off: `Move.mustMove`)
 * before balancing; within a class, higher VM priority first (`priority:N` tag, from libvirt
 * metadata or `policy.vmPriorities`), then the shorter predicted move first (shortest-job-first:
 * short moves free their slots sooner, so more VMs are on their way in the same time).
 *
 * Pacing (storm control, with `AdmitOptions.tickSeconds`): balancing moves leaving a host are
 * limited per tick by how long its recent moves really took (`balancingPace`); must-moves never.
 */
import type { ClusterState, VmObservation } from '../cluster/model.js';
import type { MigrationConfig } from '../config/migration-schema.js';
import type { Move } from './plan-types.js';

/** 10 Gb/s in MiB/s (10e9 / 8 / 2^20): from here on a link is sized as 10 GbE. */
export const TEN_GBE_MIBPS = 10e9 / 8 / 2 ** 20;
/** vSphere's network budgets: 4 concurrent migrations on 1 GbE, 8 on 10 GbE. */
export const NETWORK_BUDGET_1GBE = 4;
export const NETWORK_BUDGET_10GBE = 8;

/** A migration running now, as admission counts it. */
export interface RunningMove {
  vmUuid: string;
  from: string;
  /** '' for a job found on a host whose target is not known (it counts against its source only). */
  to: string;
  bandwidthMiBps: number;
  /** Copies local disks (costs more against hosts and datastores); false when not known. */
  copyStorage?: boolean;
  /** The VM's disks are on shared storage (its move costs against the shared datastore). */
  disksShared?: boolean;
}

export interface AdmitOptions {
  /**
   * Seconds between plans (the controller's tick, the simulator's tickSeconds): with it, balancing
   * moves are paced by their hosts' measured durations (`balancingPace`); without it, not.
   */
  tickSeconds?: number;
}

/** A move admission did not start now, and why. */
export interface NotAdmitted {
  move: Move;
  reason: string;
  /**
   * True: over a budget now; the move waits in the queue and starts when a slot frees. False: it
   * cannot start as things are (a host down or in maintenance, a job of the VM running).
   */
  waits: boolean;
}

export interface AdmissionResult {
  admitted: Move[];
  rejected: NotAdmitted[];
}

/** The resources one move uses and what it costs against each (cost units: one live move = 1). */
export interface MoveCost {
  /** Against its source's sending budget. */
  send: number;
  /** Against its target's receiving budget. */
  receive: number;
  /** Against each end's migration network. */
  network: number;
  /** Datastore name -> cost: `shared`, or `local:<host>` of each end for a storage copy. */
  datastores: Map<string, number>;
}

/** What a move (or a running migration) costs; see the module comment for the figures and their source. */
export function moveCost(m: { from: string; to: string; copyStorage?: boolean; disksShared?: boolean }, config: MigrationConfig): MoveCost {
  const { costs } = config;
  const storage = Boolean(m.copyStorage);
  const host = storage ? costs.storageCopyHost : 1;
  const datastores = new Map<string, number>();
  if (storage) {
    datastores.set(`local:${m.from}`, costs.storageCopyDatastore);
    if (m.to) datastores.set(`local:${m.to}`, costs.storageCopyDatastore);
  } else if (m.disksShared !== false) datastores.set('shared', costs.liveDatastore);
  return { send: host, receive: host, network: 1, datastores };
}

/** The migration network budget of `host` for a move over a link of `bandwidthMiBps` (measured or not). */
export function networkBudget(host: string, link: { bandwidthMiBps: number; measured: boolean }, config: MigrationConfig): number {
  const set = config.hostBudgets[host]?.network ?? config.networkBudget;
  if (set !== undefined) return set;
  return link.measured && link.bandwidthMiBps >= TEN_GBE_MIBPS * 0.95 ? NETWORK_BUDGET_10GBE : NETWORK_BUDGET_1GBE;
}

/** The VM's scheduling priority: its `priority:N` tag (higher first), 0 without one. */
export function vmPriority(vm: Pick<VmObservation, 'tags'> | undefined): number {
  for (const tag of vm?.tags ?? []) {
    if (!tag.startsWith('priority:')) continue;
    const n = Number(tag.slice('priority:'.length));
    if (Number.isFinite(n)) return n;
  }
  return 0;
}

/**
 * Moves in the order they get free slots: must-moves first, then higher VM priority, then the
 * shorter predicted duration; ties keep the plan's order. Returns a new array.
 */
export function byPriority(moves: readonly Move[], state: Pick<ClusterState, 'vms'>): Move[] {
  const vms = new Map(state.vms.map((v) => [v.uuid, v]));
  return moves
    .map((move, index) => ({ move, index, priority: vmPriority(vms.get(move.vmUuid)) }))
    .sort(
      (a, b) =>
        Number(Boolean(b.move.mustMove)) - Number(Boolean(a.move.mustMove)) ||
        b.priority - a.priority ||
        a.move.predicted.totalSeconds - b.move.predicted.totalSeconds ||
        a.index - b.index,
    )
    .map((x) => x.move);
}

/** Recent timed moves a pace is computed from (per source host, else cluster-wide). */
export const PACE_SAMPLES = 10;

/**
 * Pacing (storm control): how many balancing moves may start from `host` in one tick, from how
 * long its recent moves really took — as many as its sending budget can finish within the tick at
 * that mean duration, at least 1 (DRS's adaptive MaxMovesPerHost: moves per host per invocation
 * from the average migration time; frankdenneman.nl, "DRS 4.1 adaptive MaxMovesPerHost").
 * Undefined (no pacing) before any move has been timed. Must-moves are never paced.
 */
export function balancingPace(
  host: string,
  durationsMs: { byHost: ReadonlyMap<string, number[]>; all: readonly number[] },
  config: MigrationConfig,
  tickSeconds: number,
): { moves: number; meanSeconds: number } | undefined {
  const own = durationsMs.byHost.get(host) ?? [];
  const sample = (own.length > 0 ? own : durationsMs.all).slice(-PACE_SAMPLES);
  if (sample.length === 0) return undefined;
  const meanSeconds = sample.reduce((a, b) => a + b, 0) / sample.length / 1000;
  const budget = config.hostBudgets[host]?.send ?? config.maxPerSourceHost;
  return { moves: Math.max(1, Math.floor((budget * tickSeconds) / meanSeconds)), meanSeconds };
}

/** The measured durations of `recentMoves` (oldest first), by source host and all together. */
export function measuredDurations(recentMoves: ClusterState['recentMoves']): { byHost: Map<string, number[]>; all: number[] } {
  const byHost = new Map<string, number[]>();
  const all: number[] = [];
  for (const m of recentMoves) {
    if (m.durationMs === undefined || m.durationMs <= 0) continue;
    all.push(m.durationMs);
    const list = byHost.get(m.from);
    if (list) list.push(m.durationMs);
    else byHost.set(m.from, [m.durationMs]);
  }
  return { byHost, all };
}

/** Usage of every budgeted resource by the running moves, kept as moves are admitted. */
class Usage {
  readonly send = new Map<string, number>();
  readonly receive = new Map<string, number>();
  readonly network = new Map<string, number>();
  readonly datastore = new Map<string, number>();
  count = 0;
  bandwidthMiBps = 0;

  add(m: RunningMove, config: MigrationConfig): void {
    const cost = moveCost(m, config);
    const bump = (map: Map<string, number>, key: string, by: number) => map.set(key, (map.get(key) ?? 0) + by);
    this.count++;
    this.bandwidthMiBps += m.bandwidthMiBps;
    bump(this.send, m.from, cost.send);
    bump(this.network, m.from, cost.network);
    if (m.to) {
      bump(this.receive, m.to, cost.receive);
      bump(this.network, m.to, cost.network);
    }
    for (const [name, c] of cost.datastores) bump(this.datastore, name, c);
  }
}

/** Over `budget` with `cost` more on top of `used`; a cost above the whole budget fits an idle resource. */
function over(used: number, cost: number, budget: number): boolean {
  return used > 0 && used + cost > budget;
}

/**
 * The budgets in use by what runs now, and the moves taken on top of them: admission's ledger.
 * `running` are the caller's running moves; `state.inFlight` entries not among them count as
 * running live moves (the simulator and a collector that saw them), and so does any job libvirt
 * shows for a VM (`jobRunning`) that neither names.
 */
export class BudgetLedger {
  private readonly usage = new Usage();
  private readonly busy = new Set<string>();
  private readonly disksShared = new Map<string, boolean>();

  constructor(
    running: readonly RunningMove[],
    state: Pick<ClusterState, 'inFlight' | 'vms'>,
    private readonly config: MigrationConfig,
  ) {
    for (const r of running) {
      this.usage.add(r, config);
      this.busy.add(r.vmUuid);
    }
    for (const m of state.inFlight) {
      if (this.busy.has(m.vmUuid)) continue;
      this.usage.add({ vmUuid: m.vmUuid, from: m.from, to: m.to, bandwidthMiBps: 0 }, config);
      this.busy.add(m.vmUuid);
    }
    // A job libvirt shows that no one here accounts for (another controller's move, an operator's
    // virsh migrate) uses its host too: it counts as a move leaving that host, target unknown.
    for (const v of state.vms) {
      this.disksShared.set(v.uuid, v.disksShared);
      if (!v.jobRunning || this.busy.has(v.uuid)) continue;
      this.usage.add({ vmUuid: v.uuid, from: v.host, to: '', bandwidthMiBps: 0, disksShared: v.disksShared }, this.config);
      this.busy.add(v.uuid);
    }
  }

  /** A migration of this VM runs or was taken. */
  isBusy(vmUuid: string): boolean {
    return this.busy.has(vmUuid);
  }

  /** The running move `move` would be (its bandwidth limit, storage copy, where its disks are). */
  candidate(move: Move): RunningMove {
    return {
      vmUuid: move.vmUuid,
      from: move.from,
      to: move.to,
      bandwidthMiBps: this.config.bandwidthMiBps > 0 ? this.config.bandwidthMiBps : move.inputs.bandwidthMiBps,
      copyStorage: move.copyStorage,
      disksShared: this.disksShared.get(move.vmUuid),
    };
  }

  /** The first budget `move` would exceed on top of what is in use, as a sentence naming the config field; undefined when it fits. */
  overBudget(move: Move): string | undefined {
    const candidate = this.candidate(move);
    return overBudget(move, moveCost(candidate, this.config), candidate, this.usage, this.config);
  }

  /** Count `move` as running from now on. */
  take(move: Move): void {
    this.usage.add(this.candidate(move), this.config);
    this.busy.add(move.vmUuid);
  }
}

/**
 * Which of `moves` may start now, beside the `running` migrations, in priority order
 * (`byPriority`). Moves over a budget are returned with `waits: true` (the caller queues them);
 * moves that cannot start as things are with `waits: false`. What counts as running: BudgetLedger.
 */
export function admit(
  moves: readonly Move[],
  running: readonly RunningMove[],
  state: ClusterState,
  config: MigrationConfig,
  options: AdmitOptions = {},
): AdmissionResult {
  const ledger = new BudgetLedger(running, state, config);
  const admitted: Move[] = [];
  const rejected: NotAdmitted[] = [];
  const hosts = new Map(state.hosts.map((h) => [h.name, h]));
  const durations = options.tickSeconds !== undefined ? measuredDurations(state.recentMoves) : undefined;
  const pace = new Map<string, { moves: number; meanSeconds: number } | undefined>();
  const balancingFrom = new Map<string, number>();
  for (const move of byPriority(moves, state)) {
    const refuse = (reason: string) => rejected.push({ move, reason, waits: false });
    if (durations && !move.mustMove) {
      if (!pace.has(move.from)) pace.set(move.from, balancingPace(move.from, durations, config, options.tickSeconds!));
      const p = pace.get(move.from);
      const n = balancingFrom.get(move.from) ?? 0;
      if (p && n >= p.moves) {
        refuse(
          `paced: ${p.moves} balancing move(s) from ${move.from} per ${options.tickSeconds} s tick at its measured ${p.meanSeconds.toFixed(1)} s per move; planned again next tick`,
        );
        continue;
      }
    }
    const from = hosts.get(move.from);
    const to = hosts.get(move.to);
    if (!from?.up) {
      refuse(`source host ${move.from} is down`);
      continue;
    }
    if (!to?.up) {
      refuse(`target host ${move.to} is down`);
      continue;
    }
    if (to.maintenance) {
      refuse(`target host ${move.to} is in maintenance`);
      continue;
    }
    if (ledger.isBusy(move.vmUuid)) {
      refuse('a migration of this VM is already running');
      continue;
    }
    // Paced per tick: the ones admitted now and the ones queued behind them alike.
    if (!move.mustMove) balancingFrom.set(move.from, (balancingFrom.get(move.from) ?? 0) + 1);
    const why = ledger.overBudget(move);
    if (why) {
      rejected.push({ move, reason: why, waits: true });
      continue;
    }
    ledger.take(move);
    admitted.push(move);
  }
  return { admitted, rejected };
}

/** The first budget `move` would exceed, as a sentence naming the config field, or undefined. */
function overBudget(move: Move, cost: MoveCost, candidate: RunningMove, usage: Usage, config: MigrationConfig): string | undefined {
  if (usage.count >= config.maxConcurrent) return `${config.maxConcurrent} migrations already running (migration.maxConcurrent)`;
  const sendBudget = config.hostBudgets[move.from]?.send ?? config.maxPerSourceHost;
  const sending = usage.send.get(move.from) ?? 0;
  if (over(sending, cost.send, sendBudget))
    return `source ${move.from} already sends ${sending} of its budget ${sendBudget} (migration.maxPerSourceHost${config.hostBudgets[move.from]?.send !== undefined ? `, hostBudgets.${move.from}.send` : ''}); this move costs ${cost.send}`;
  const receiveBudget = config.hostBudgets[move.to]?.receive ?? config.maxPerTargetHost;
  const receiving = usage.receive.get(move.to) ?? 0;
  if (over(receiving, cost.receive, receiveBudget))
    return `target ${move.to} already receives ${receiving} of its budget ${receiveBudget} (migration.maxPerTargetHost${config.hostBudgets[move.to]?.receive !== undefined ? `, hostBudgets.${move.to}.receive` : ''}); this move costs ${cost.receive}`;
  const link = { bandwidthMiBps: move.inputs.bandwidthMiBps, measured: Boolean(move.inputs.bandwidthMeasured) };
  for (const host of [move.from, move.to]) {
    const budget = networkBudget(host, link, config);
    const used = usage.network.get(host) ?? 0;
    if (over(used, cost.network, budget)) return `the migration network of ${host} carries ${used} of its budget ${budget} (migration.networkBudget)`;
  }
  for (const [name, c] of cost.datastores) {
    const used = usage.datastore.get(name) ?? 0;
    if (over(used, c, config.datastoreBudget))
      return `datastore ${name} carries ${used} of its budget ${config.datastoreBudget} (migration.datastoreBudget); this move costs ${c}`;
  }
  if (config.bandwidthBudgetMiBps > 0 && usage.bandwidthMiBps + candidate.bandwidthMiBps > config.bandwidthBudgetMiBps)
    return `bandwidth budget of ${config.bandwidthBudgetMiBps} MiB/s in use (migration.bandwidthBudgetMiBps)`;
  return undefined;
}

/**
 * The queue of moves waiting for a slot. `replace` takes a new plan's waiting moves (a newer plan
 * supersedes the last one's queue); `next` admits what fits beside `running` now — called when a
 * slot frees, so a queued move starts at once instead of at the next tick or after a whole wave.
 */
export class MoveQueue {
  private waiting: Move[] = [];

  /** The waiting moves, in admission order. */
  get moves(): readonly Move[] {
    return this.waiting;
  }

  get size(): number {
    return this.waiting.length;
  }

  replace(moves: readonly Move[]): void {
    this.waiting = [...moves];
  }

  clear(): void {
    this.waiting = [];
  }

  /**
   * Admit what fits now; what is over a budget stays queued, what cannot start any more (its host
   * went down, the VM has a job) leaves the queue and is returned in `rejected`.
   */
  next(running: readonly RunningMove[], state: ClusterState, config: MigrationConfig): AdmissionResult {
    if (this.waiting.length === 0) return { admitted: [], rejected: [] };
    // `running` is the truth now; what `state` saw running then may have ended since.
    const then = { ...state, inFlight: [], vms: state.vms.map((v) => (v.jobRunning ? { ...v, jobRunning: false } : v)) };
    const result = admit(this.waiting, running, then, config);
    this.waiting = result.rejected.filter((r) => r.waits).map((r) => r.move);
    return { admitted: result.admitted, rejected: result.rejected.filter((r) => !r.waits) };
  }
}
