/**
 * The control loop: every tick collect -> plan -> (measure dirty rates of candidates, plan again)
 * -> admit and execute. Level-triggered: every tick recomputes from what the hosts report, so a
 * restart in the middle of a migration finds the job (executor.reconcile) and carries on.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { Collector } from '../cluster/collector.js';
import { HostConnections } from '../cluster/connections.js';
import type { ClusterState } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import { Executor, Journal, LearnedFromMigrations, moveHistory, unfinishedStarts, type MigrationProgress, type MigrationResult } from '../executor/index.js';
import { mergeSharedOutcomes } from '../ha/shared-history.js';
import type { LeaderGate, OutcomeEntry, SharedDecisionStore } from '../ha/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { closePolicies, loadPolicies, newPlanMemory, type LoadedPolicy, type Move, type Plan } from '../policy/index.js';
import { planMeasuringCandidates } from './plan-measured.js';
import { validateSchedule } from './schedule.js';

export interface TickReport {
  state: ClusterState;
  plan: Plan;
  admitted: Move[];
  rejected: { move: Move; reason: string }[];
  durationMs: number;
  dryRun: boolean;
  /** With ha: 'standby' ticks only collect (no reconcile, no plan, no migration). */
  role: 'leader' | 'standby';
}

export interface ControllerOptions {
  logger: Logger;
  metrics?: Metrics;
  /** Overrides config.loop.dryRun (the --dry-run flag). */
  dryRun?: boolean;
  onTick?: (report: TickReport) => void;
  onResult?: (result: MigrationResult) => void;
  onProgress?: (move: Move, p: MigrationProgress) => void;
  /** High availability (src/ha/): only the leader plans and starts; its decisions are shared. */
  ha?: { gate: LeaderGate; store: SharedDecisionStore };
}

export class Controller {
  readonly connections: HostConnections;
  readonly collector: Collector;
  readonly executor: Executor;
  readonly journal: Journal;
  private policies: LoadedPolicy[] = [];
  /** The engine's memory between ticks (how long hosts have been spread sources). */
  private readonly planMemory = newPlanMemory();
  private task?: ScheduledTask;
  private current?: Promise<TickReport | undefined>;
  private history: { lastMovedAtMs: Record<string, number>; recentMoves: ClusterState['recentMoves']; recentFailures: NonNullable<ClusterState['recentFailures']> } = { lastMovedAtMs: {}, recentMoves: [], recentFailures: [] };
  /** Link bandwidths and the cost model's calibration (journal history, then every outcome). */
  learned = new LearnedFromMigrations();
  lastTickEndedAtMs?: number;
  /** With ha: the leadership term whose shared history this controller has loaded. */
  private sharedHistoryTerm?: string;
  readonly startedAtMs = Date.now();

  constructor(
    private config: Config,
    private readonly options: ControllerOptions,
  ) {
    const deps = { logger: options.logger, metrics: options.metrics };
    this.connections = new HostConnections(config, deps);
    this.collector = new Collector(config, this.connections, deps);
    this.journal = new Journal(config.stateDir, deps);
    this.executor = new Executor(config, {
      connections: this.connections,
      logger: options.logger,
      metrics: options.metrics,
      journal: this.journal,
      onProgress: options.onProgress,
      commitStart: options.ha ? (start) => options.ha!.gate.commitStart(start) : undefined,
      onResult: (r) => {
        this.learned.observe(r);
        this.exportLink(r.from, r.to);
        if (r.outcome === 'completed') {
          this.history.lastMovedAtMs[r.vmUuid] = r.endedAtMs;
          this.history.recentMoves.push({ vmUuid: r.vmUuid, from: r.from, to: r.to, atMs: r.endedAtMs });
          this.history.recentMoves = this.history.recentMoves.slice(-500);
        } else {
          this.history.recentFailures.push({ vmUuid: r.vmUuid, from: r.from, to: r.to, atMs: r.endedAtMs, outcome: r.outcome, error: r.error });
          this.history.recentFailures = this.history.recentFailures.slice(-500);
        }
        if (options.ha) void options.ha.store.recordOutcome(outcomeEntry(r));
        options.onResult?.(r);
      },
    });
  }

  private exportLink(from: string, to: string): void {
    const mibps = this.learned.links.estimateMiBps(from, to);
    if (mibps !== undefined) this.options.metrics?.linkBandwidthBytesPerSecond.set({ from, to }, mibps * 2 ** 20);
  }

  get dryRun(): boolean {
    return this.options.dryRun ?? this.config.loop.dryRun;
  }

  /** Load policies and history and connect; throws on bad policies or schedule (clear messages). */
  async init(): Promise<void> {
    const scheduleProblem = validateSchedule(this.config.loop.schedule);
    if (scheduleProblem) throw new Error(scheduleProblem);
    await this.journal.checkWritable();
    this.policies = await loadPolicies(this.config.policy);
    const entries = await this.journal.read();
    this.history = moveHistory(entries);
    this.learned = new LearnedFromMigrations(entries);
    for (const l of this.learned.links.links()) this.exportLink(l.from, l.to);
    // Migrations an earlier run started and never saw end: the first tick adopts them.
    this.executor.restoreUnfinished(unfinishedStarts(entries));
    await this.connections.start();
    // Prime the counters so the first tick already has rates.
    await this.collector.collect({ ...this.history, inFlight: this.executor.inFlight() });
  }

  /** Start ticking on the schedule. */
  start(): void {
    this.task = cron.schedule(this.config.loop.schedule, () => void this.tickGuarded());
  }

  private async tickGuarded(): Promise<TickReport | undefined> {
    if (this.current) {
      this.options.metrics?.ticksTotal.inc({ outcome: 'skipped' });
      this.options.logger.warn('previous tick still running; this one is skipped');
      return undefined;
    }
    this.current = this.tick().catch((error: Error) => {
      this.options.metrics?.ticksTotal.inc({ outcome: 'error' });
      this.options.logger.error({ err: error.message }, 'tick failed');
      return undefined;
    });
    try {
      return await this.current;
    } finally {
      this.current = undefined;
    }
  }

  /** One tick, now (also used by `run --once` and the demo). */
  async tick(): Promise<TickReport> {
    const started = performance.now();
    const { logger, metrics } = this.options;
    const collectOptions = () => ({ ...this.history, inFlight: this.executor.inFlight() });
    let state = await this.collector.collect(collectOptions());
    if (this.options.ha) {
      const { gate } = this.options.ha;
      if (!gate.isLeader()) return this.standbyTick(state, started);
      // A new term: what the last leader decided and started, before anything is planned (a
      // failed load fails this tick, and the next one tries again).
      const term = gate.term();
      if (term !== this.sharedHistoryTerm) {
        await this.takeOverSharedHistory();
        this.sharedHistoryTerm = term;
      }
    }
    this.executor.reconcile(state);
    const planOptions = { policies: this.policies, config: this.config.policy, bandwidthLimitMiBps: this.config.migration.bandwidthMiBps, ...this.learned.planOptions(this.config.migration), memory: this.planMemory };
    // Rates older than a cooldown (at least a minute) are measured again.
    const planned = await planMeasuringCandidates(state, this.collector, planOptions, {
      measureSeconds: this.config.policy.dirtyRateMeasureSeconds,
      staleAfterMs: Math.max(60_000, this.config.policy.cooldownSeconds * 1000),
    });
    state = planned.state;
    const result = planned.plan;
    for (const e of result.policyErrors) {
      metrics?.policyErrorsTotal.inc({ policy: e.policy });
      logger.error({ policy: e.policy, vm: e.vm, host: e.host, err: e.message }, 'policy failed; no move depends on it this tick');
    }
    for (const move of result.moves) {
      metrics?.plannedMovesTotal.inc({ technique: move.technique });
      logger.info({ vm: move.vmName, from: move.from, to: move.to, technique: move.technique, predicted: move.predicted, reason: move.reason, dryRun: this.dryRun }, 'planned move');
      void this.journal.append({ type: 'planned', atMs: Date.now(), vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, technique: move.technique, reason: move.reason, predicted: move.predicted, dryRun: this.dryRun });
    }
    const admission = this.dryRun ? { admitted: [], rejected: [] } : this.executor.submit(result.moves, state);
    const durationMs = performance.now() - started;
    metrics?.tickDurationSeconds.observe(durationMs / 1000);
    metrics?.ticksTotal.inc({ outcome: 'ok' });
    this.lastTickEndedAtMs = Date.now();
    metrics?.lastTickTimestampSeconds.set(this.lastTickEndedAtMs / 1000);
    logger.debug({ durationMs: Math.round(durationMs), hosts: state.hosts.length, vms: state.vms.length, moves: result.moves.length, imbalance: result.imbalanceBefore }, 'tick done');
    const report: TickReport = { state, plan: result, admitted: admission.admitted, rejected: admission.rejected, durationMs, dryRun: this.dryRun, role: 'leader' };
    this.options.onTick?.(report);
    return report;
  }

  /** A standby's tick: observed and exported, nothing planned (the leader plans and migrates). */
  private standbyTick(state: ClusterState, started: number): TickReport {
    const durationMs = performance.now() - started;
    this.options.metrics?.ticksTotal.inc({ outcome: 'standby' });
    this.lastTickEndedAtMs = Date.now();
    this.options.metrics?.lastTickTimestampSeconds.set(this.lastTickEndedAtMs / 1000);
    const plan: Plan = { basedOnObservedAtMs: state.observedAtMs, moves: [], skipped: [], imbalanceBefore: 0, imbalanceAfter: 0, policyErrors: [] };
    const report: TickReport = { state, plan, admitted: [], rejected: [], durationMs, dryRun: this.dryRun, role: 'standby' };
    this.options.onTick?.(report);
    return report;
  }

  /**
   * On becoming leader: history from the local journal merged with the shared one (cooldowns,
   * recent moves and failures, link bandwidths), and the migrations the last leader started and
   * never saw end handed to the executor, which adopts them in this tick's reconcile.
   * @throws when etcd cannot be read (the tick fails; the next one tries again).
   */
  private async takeOverSharedHistory(): Promise<void> {
    const shared = await this.options.ha!.store.load();
    const local = await this.journal.read();
    const entries = mergeSharedOutcomes(local, shared.outcomes);
    this.history = moveHistory(entries);
    this.learned = new LearnedFromMigrations(entries);
    for (const l of this.learned.links.links()) this.exportLink(l.from, l.to);
    this.executor.restoreUnfinished(shared.unfinished);
    this.options.logger.info({ sharedOutcomes: shared.outcomes.length, adopting: [...shared.unfinished.values()].map((u) => u.vm) }, 'leader: shared decision history loaded; adopting the migrations the last leader started');
  }

  /** Apply a new, already validated config (SIGHUP): connections that did not change stay open. */
  async reload(config: Config): Promise<void> {
    const policies = await loadPolicies(config.policy);
    const scheduleChanged = config.loop.schedule !== this.config.loop.schedule;
    this.config = config;
    const replaced = this.policies;
    this.policies = policies;
    // After the tick that may still use them (custom policies' worker threads).
    void (this.current ?? Promise.resolve()).then(() => closePolicies(replaced));
    this.collector.setConfig(config);
    this.executor.setConfig(config);
    await this.connections.reload(config);
    if (scheduleChanged && this.task) {
      await this.task.stop();
      this.start();
    }
  }

  /** Stop ticking, finish the current tick, close connections. Running migrations are left alone. */
  async stop(): Promise<void> {
    await this.task?.stop();
    await this.current;
    const running = this.executor.inFlight();
    if (running.length > 0) this.options.logger.info({ migrations: running.map((m) => m.vmName) }, 'leaving running migrations to libvirt');
    this.executor.detach();
    await this.connections.close();
    await closePolicies(this.policies);
    this.journal.close();
  }
}

/** The journal 'outcome' entry of a result (what the shared history keeps). */
function outcomeEntry(r: MigrationResult): OutcomeEntry {
  return { type: 'outcome', atMs: r.endedAtMs, vm: r.vm, vmUuid: r.vmUuid, from: r.from, to: r.to, technique: r.technique, outcome: r.outcome, totalMs: r.totalMs, downtimeMs: r.downtimeMs, bytes: r.bytes, iterations: r.iterations, jobDirtyRateMiBps: r.jobDirtyRateMiBps, predicted: r.predicted, inputs: r.inputs, error: r.error, adoptedAfterRestart: r.adoptedAfterRestart };
}
