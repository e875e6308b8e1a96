/**
 * The control loop: every tick collect -> plan -> (measure dirty rates of candidates, plan again)
 * -> admit and execute. Level-triggered: every tick recomputes from what the hosts report, so a
 * restart in the middle of a migration finds the job (executor.reconcile) and carries on.
 */
import cron, { type ScheduledTask } from 'node-cron';
import '../../policies/index.js';
import { Collector } from '../cluster/collector.js';
import { HostConnections } from '../cluster/connections.js';
import type { ClusterState } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import { Executor, outcomeEntry, type MigrationProgress, type MigrationResult } from '../executor/index.js';
import { DecisionHistory, Journal, unfinishedStarts } from '../history/index.js';
import { mergeSharedOutcomes } from '../ha/shared-history.js';
import type { LeaderGate, SharedDecisionStore } from '../ha/types.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { closePolicies, loadPolicies, moveIdentity, newPlanMemory, type LoadedPolicy, type Move, type Plan } from '../policy/index.js';
import { RecommendationStore, splitByAutomation, type Recommendation } from '../executor/recommendations.js';
import { WebhookNotifier } from '../notifications/webhooks.js';
import { maintenanceEvents, resultEvents, startedEvent, type EventToSend } from './notify-events.js';
import { planObserved, planOptionsFor } from './pipeline.js';
import { PowerManager, type PowerPlan } from '../power/manager.js';
import { markPowerStates } from '../power/decide.js';
import { cronTimezone, schedulePeriodSeconds, validateSchedule } from './schedule.js';
import type { WorkflowContext } from './workflows/context.js';
import { unfinishedRollHost } from './workflows/maintenance-roll.js';

export interface TickReport {
  state: ClusterState;
  plan: Plan;
  admitted: Move[];
  rejected: { move: Move; reason: string }[];
  /** Moves recorded this tick to wait for approval (policy.automation manual or partial). */
  recommended: Recommendation[];
  durationMs: number;
  dryRun: boolean;
  /** With ha: 'standby' ticks only collect (no reconcile, no plan, no migration). */
  role: 'leader' | 'standby';
  /** Power actions planned this tick (config power:) and the hosts not awake; absent on an HA standby's tick. */
  power?: PowerPlan;
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
  readonly recommendations: RecommendationStore;
  readonly notifier: WebhookNotifier;
  /** Power actions on hosts consolidation emptied, and each host's power state (src/power/). */
  readonly power: PowerManager;
  /** Each host's maintenance flag at the last tick, to notify when it changes. */
  private maintenanceSeen?: Map<string, boolean>;
  /** Recommendations whose end (approved elsewhere, expired...) the metrics have counted. */
  private readonly recommendationsCounted = new Set<string>();
  private policies: LoadedPolicy[] = [];
  /** The engine's memory between ticks (how long hosts have been spread sources). */
  private readonly planMemory = newPlanMemory();
  private task?: ScheduledTask;
  private current?: Promise<TickReport | undefined>;
  /** Moves, failures, link bandwidths and calibration: journal history, then every outcome. */
  history = new DecisionHistory();
  lastTickEndedAtMs?: number;
  /** Hosts an operator's drain (handed over the control socket) is emptying: the ticks plan them as in maintenance. */
  readonly draining = new Set<string>();
  /**
   * The host an unfinished maintenance roll (journal) stopped at past its drain: possibly half
   * updated, so planned as in maintenance until the roll is resumed or abandoned.
   */
  private rollHold?: string;
  /** Operator requests under way (control socket): each holds the policies it started with. */
  private readonly operatorRequests = new Set<Promise<unknown>>();
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
    this.recommendations = new RecommendationStore(config.stateDir);
    this.notifier = new WebhookNotifier(config.notifications.webhooks, deps);
    this.power = new PowerManager(config, {
      journal: this.journal,
      logger: options.logger,
      metrics: options.metrics,
      connection: (host) => this.connections.get(host),
      onWakeRequested: (host) => this.connections.retrySoon(host),
      // Fenced like migration starts: a partitioned leader keeps isLeader() up to one TTL.
      commitAction: options.ha ? (d) => options.ha!.gate.commitPowerAction({ host: d.host, action: d.action, reason: d.reason }) : undefined,
    });
    this.executor = new Executor(config, {
      connections: this.connections,
      logger: options.logger,
      metrics: options.metrics,
      journal: this.journal,
      onProgress: options.onProgress,
      onStart: (move) => this.send([startedEvent(move)]),
      commitStart: options.ha ? (start) => options.ha!.gate.commitStart(start) : undefined,
      onResult: (r) => {
        this.send(resultEvents(r));
        this.history.observe(r);
        this.exportLink(r.from, r.to);
        if (options.ha) void options.ha.store.recordOutcome(outcomeEntry(r));
        options.onResult?.(r);
      },
    });
  }

  private send(events: EventToSend[]): void {
    for (const e of events) this.notifier.notify(e.event, e.data, e.atMs);
  }

  private exportLink(from: string, to: string): void {
    const mibps = this.history.learned.links.estimateMiBps(from, to);
    if (mibps !== undefined) this.options.metrics?.linkBandwidthBytesPerSecond.set({ from, to }, mibps * 2 ** 20);
  }

  get dryRun(): boolean {
    return this.options.dryRun ?? this.config.loop.dryRun;
  }

  /** Whether this controller may start migrations now (always without ha:; the leader with it). */
  isLeader(): boolean {
    return this.options.ha ? this.options.ha.gate.isLeader() : true;
  }

  /**
   * The daemon's own parts for an operator's workflow (controller/workflows/): its policies,
   * history, journal, collector and executor, so its cooldowns, metrics and webhooks see the move.
   * `observe` collects afresh after the tick under way, with the history and what is in flight.
   */
  workflowContext(): WorkflowContext {
    return {
      config: this.config,
      logger: this.options.logger,
      policies: this.policies,
      history: this.history,
      journal: this.journal,
      collector: this.collector,
      executor: this.executor,
      observe: async () => {
        await this.current;
        const state = await this.collector.collect({ recentFailures: this.history.forState().recentFailures, inFlight: this.executor.inFlight() });
        // A host a drain is emptying is no target for an operator's approve or migrate either.
        return this.withDraining({ ...state, ...this.history.forState() });
      },
    };
  }

  /**
   * Run an operator's request (control socket) with the policies of this moment: a reload while it
   * runs closes the replaced policies only after it ends. Resolves or rejects as `run` does.
   */
  async serveRequest<T>(run: (ctx: WorkflowContext) => Promise<T>): Promise<T> {
    const request = run(this.workflowContext());
    this.operatorRequests.add(request);
    try {
      return await request;
    } finally {
      this.operatorRequests.delete(request);
    }
  }

  /** Load policies and history and connect; throws on bad policies or schedule (clear messages). */
  async init(): Promise<void> {
    const scheduleProblem = validateSchedule(this.config.loop.schedule);
    if (scheduleProblem) throw new Error(scheduleProblem);
    await this.journal.checkWritable();
    this.policies = await loadPolicies(this.config.policy);
    const entries = await this.journal.readForPlanning();
    this.history = new DecisionHistory(entries);
    this.power.restore(entries);
    this.rollHold = unfinishedRollHost(entries);
    if (this.rollHold)
      this.options.logger.warn(
        { host: this.rollHold },
        `a maintenance roll stopped after draining ${this.rollHold} (see virt-balancer status): ${this.rollHold} is treated as in maintenance (no VM placed or moved there) until the roll is resumed (stop this daemon, maintenance --resume) or abandoned (maintenance --fresh)`,
      );
    for (const l of this.history.learned.links.links()) this.exportLink(l.from, l.to);
    // Ends recorded before this run are history, not events of this run's metrics.
    for (const r of await this.recommendations.list()) if (r.resolution) this.recommendationsCounted.add(r.id);
    // Migrations an earlier run started and never saw end: the first tick adopts them.
    this.executor.restoreUnfinished(unfinishedStarts(entries));
    await this.connections.start();
    // Prime the counters so the first tick already has rates.
    await this.collector.collect({ recentFailures: this.history.forState().recentFailures, inFlight: this.executor.inFlight() });
  }

  /** Start ticking on the schedule. */
  start(): void {
    this.task = cron.schedule(this.config.loop.schedule, () => void this.tickGuarded(), { timezone: cronTimezone(this.config.loop.timezone) });
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

  /**
   * `state` with each host an operator's drain is emptying marked in maintenance, so nothing moves
   * onto it: the tick's plan, and the approvals and migrations the daemon runs for operators.
   */
  private withDraining(state: ClusterState): ClusterState {
    if (this.draining.size === 0 && this.rollHold === undefined) return state;
    return {
      ...state,
      hosts: state.hosts.map((h) => (this.draining.has(h.name) || h.name === this.rollHold ? { ...h, maintenance: true } : h)),
    };
  }

  /** One tick, now (also used by `run --once` and the demo): observe, decide, act. */
  async tick(): Promise<TickReport> {
    const started = performance.now();
    const observed = await this.observe();
    if (observed.role === 'standby') return this.standbyTick(observed.state, started);
    // The moves off a host an operator's drain is emptying are left to the drain (decide()).
    const decided = await this.decide(this.withDraining(observed.state));
    return this.act(decided.state, decided.plan, started);
  }

  /**
   * Collect what the hosts show (with the history and the migrations in flight); as leader, take
   * over the last leader's shared history on a new term, end power actions by what was seen,
   * adopt running jobs (reconcile) and notify maintenance changes. A standby only collects.
   */
  private async observe(): Promise<{ state: ClusterState; role: 'leader' | 'standby' }> {
    const state = await this.collector.collect({ recentFailures: this.history.forState().recentFailures, inFlight: this.executor.inFlight() });
    if (this.options.ha) {
      const { gate } = this.options.ha;
      if (!gate.isLeader()) return { state, role: 'standby' };
      // A new term: what the last leader decided and started, before anything is planned (a
      // failed load fails this tick, and the next one tries again).
      const term = gate.term();
      if (term !== this.sharedHistoryTerm) {
        await this.takeOverSharedHistory();
        this.sharedHistoryTerm = term;
      }
    }
    // Power actions under way end (done / failed) by what this collection saw; hosts not awake are marked (never targets).
    const marked = this.power.observe(state);
    this.connections.setExpectedDown(new Set(this.power.states.notAwake().keys()));
    this.executor.reconcile(marked);
    this.send(maintenanceEvents(this.maintenanceSeen, marked.hosts));
    this.maintenanceSeen = new Map(marked.hosts.map((h) => [h.name, h.maintenance]));
    return { state: marked, role: 'leader' };
  }

  /** Plan on the observed state (dirty rates older than a cooldown, at least a minute, measured again); log, count and journal it. */
  private async decide(observed: ClusterState): Promise<{ state: ClusterState; plan: Plan }> {
    const planned = await planObserved(
      observed,
      { config: this.config, policies: this.policies, history: this.history, memory: this.planMemory },
      { collector: this.collector, staleAfterMs: Math.max(60_000, this.config.policy.cooldownSeconds * 1000) },
    );
    // The moves off a host an operator's drain is emptying are that drain's to run, not the tick's.
    const plan = this.draining.size === 0 ? planned.plan : { ...planned.plan, moves: planned.plan.moves.filter((m) => !this.draining.has(m.from)) };
    this.reportPlanProblems(plan);
    this.recordPlanned(plan.moves);
    return { state: planned.state, plan };
  }

  /** Policy errors, notices, timeouts and timings of a plan: logged and counted. */
  private reportPlanProblems(result: Plan): void {
    const { logger, metrics } = this.options;
    for (const e of result.policyErrors) {
      metrics?.policyErrorsTotal.inc({ policy: e.policy });
      logger.error({ policy: e.policy, vm: e.vm, host: e.host, err: e.message }, 'policy failed; no move depends on it this tick');
    }
    for (const n of result.notices ?? []) logger.warn({ source: n.source }, n.message);
    metrics?.headroomShortfall.set(result.headroom?.shortfall ? 1 : 0);
    for (const t of result.timeouts ?? []) metrics?.policyTimeoutsTotal.inc({ policy: t.policy, point: t.point });
    if ((result.timeouts ?? []).length > 0)
      logger.warn(
        { timeouts: result.timeouts!.length, policies: [...new Set(result.timeouts!.map((t) => `${t.policy} ${t.point}`))] },
        'incomplete plan: policy calls timed out; their candidates and verdicts are missing this tick',
      );
    for (const t of result.policyTimings ?? []) metrics?.policySecondsTotal.inc({ policy: t.policy, point: t.point }, t.ms / 1000);
  }

  /** Each planned move: counted, logged and journaled (dry run or not). */
  private recordPlanned(moves: readonly Move[]): void {
    const { logger, metrics } = this.options;
    for (const move of moves) {
      metrics?.plannedMovesTotal.inc({ technique: move.technique });
      logger.info(
        { vm: move.vmName, from: move.from, to: move.to, technique: move.technique, predicted: move.predicted, reason: move.reason, dryRun: this.dryRun },
        'planned move',
      );
      void this.journal.append({
        type: 'planned',
        atMs: Date.now(),
        ...moveIdentity(move),
        technique: move.technique,
        reason: move.reason,
        predicted: move.predicted,
        dryRun: this.dryRun,
      });
    }
  }

  /**
   * Carry the plan out: moves split by policy.automation (run now, or recorded as
   * recommendations), submitted to the executor within the budgets, power actions decided and
   * run; the tick counted and reported.
   */
  private async act(state: ClusterState, result: Plan, started: number): Promise<TickReport> {
    const { logger, metrics } = this.options;
    const { run, wait } = splitByAutomation(result.moves, this.config.policy.automation);
    const recommended = this.dryRun || (this.config.policy.automation === 'full' && wait.length === 0) ? [] : await this.recommend(wait);
    const admission = this.dryRun
      ? { admitted: [], rejected: [] }
      : this.executor.submit(run, state, { tickSeconds: schedulePeriodSeconds(this.config.loop.schedule) });
    const powerDecided = await this.power.decide(state, result, planOptionsFor({ config: this.config, policies: this.policies, history: this.history }));
    const power = this.power.report(this.power.carryOut(powerDecided.decisions, this.dryRun), powerDecided.held);
    this.connections.setExpectedDown(new Set(this.power.states.notAwake().keys()));
    const durationMs = performance.now() - started;
    metrics?.tickDurationSeconds.observe(durationMs / 1000);
    metrics?.ticksTotal.inc({ outcome: 'ok' });
    this.lastTickEndedAtMs = Date.now();
    metrics?.lastTickTimestampSeconds.set(this.lastTickEndedAtMs / 1000);
    logger.debug(
      { durationMs: Math.round(durationMs), hosts: state.hosts.length, vms: state.vms.length, moves: result.moves.length, imbalance: result.imbalanceBefore },
      'tick done',
    );
    const report: TickReport = {
      state,
      plan: result,
      admitted: admission.admitted,
      rejected: admission.rejected,
      recommended,
      durationMs,
      dryRun: this.dryRun,
      role: 'leader',
      power,
    };
    this.options.onTick?.(report);
    return report;
  }

  /**
   * Record moves that wait for approval, journal what was recommended, expired or superseded, and
   * export the waiting count. A store that cannot be written is logged: the moves are not run
   * either way, and the next tick recommends them again.
   */
  private async recommend(moves: Move[]): Promise<Recommendation[]> {
    const { logger, metrics } = this.options;
    const nowMs = Date.now();
    try {
      const { created, expired, superseded } = await this.recommendations.record(moves, {
        nowMs,
        expirySeconds: this.config.policy.recommendationExpirySeconds,
      });
      for (const r of created) {
        metrics?.recommendationsTotal.inc({ event: 'created' });
        logger.info(
          { id: r.id, vm: r.move.vmName, from: r.move.from, to: r.move.to, kind: r.kind, automation: this.config.policy.automation },
          'move recommended; waits for approval (virt-balancer approve)',
        );
        void this.journal.append({
          type: 'recommended',
          atMs: nowMs,
          id: r.id,
          ...moveIdentity(r.move),
          technique: r.move.technique,
          kind: r.kind,
          reason: r.move.reason,
          expiresAtMs: r.expiresAtMs,
        });
      }
      for (const [status, list] of [
        ['expired', expired],
        ['superseded', superseded],
      ] as const) {
        for (const r of list)
          void this.journal.append({
            type: 'recommendation-ended',
            atMs: nowMs,
            id: r.id,
            ...moveIdentity(r.move),
            status,
          });
      }
      const all = await this.recommendations.list(nowMs);
      for (const r of all) {
        if (!r.resolution || this.recommendationsCounted.has(r.id)) continue;
        this.recommendationsCounted.add(r.id);
        metrics?.recommendationsTotal.inc({ event: r.resolution.status });
      }
      for (const kind of ['must-move', 'balancing'] as const)
        metrics?.recommendationsWaiting.set({ kind }, all.filter((r) => r.status === 'waiting' && r.kind === kind).length);
      return created;
    } catch (error) {
      logger.error(
        { file: this.recommendations.file, err: (error as Error).message },
        'recommendations cannot be recorded; the moves wait (not run) and are recommended again next tick',
      );
      return [];
    }
  }

  /** A standby's tick: observed and exported, nothing planned (the leader plans and migrates). */
  private standbyTick(observed: ClusterState, started: number): TickReport {
    // A standby starts nothing: moves a lost term left queued must not start when a slot frees.
    this.executor.clearQueue();
    // The leader journals power actions; a standby shows its own journal's view of them.
    const state = markPowerStates(observed, this.power.states);
    const durationMs = performance.now() - started;
    this.options.metrics?.ticksTotal.inc({ outcome: 'standby' });
    this.lastTickEndedAtMs = Date.now();
    this.options.metrics?.lastTickTimestampSeconds.set(this.lastTickEndedAtMs / 1000);
    const plan: Plan = { basedOnObservedAtMs: state.observedAtMs, moves: [], skipped: [], imbalanceBefore: 0, imbalanceAfter: 0, policyErrors: [] };
    const report: TickReport = { state, plan, admitted: [], rejected: [], recommended: [], durationMs, dryRun: this.dryRun, role: 'standby' };
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
    const local = await this.journal.readForPlanning();
    const entries = mergeSharedOutcomes(local, shared.outcomes);
    this.history = new DecisionHistory(entries);
    // Power states come from this controller's own journal only (the shared history holds migration outcomes): docs/ha.md.
    this.power.restore(local);
    for (const l of this.history.learned.links.links()) this.exportLink(l.from, l.to);
    this.executor.restoreUnfinished(shared.unfinished);
    this.options.logger.info(
      { sharedOutcomes: shared.outcomes.length, adopting: [...shared.unfinished.values()].map((u) => u.vm) },
      'leader: shared decision history loaded; adopting the migrations the last leader started',
    );
  }

  /** Apply a new, already validated config (SIGHUP): connections that did not change stay open. */
  async reload(config: Config): Promise<void> {
    const policies = await loadPolicies(config.policy);
    const scheduleChanged = config.loop.schedule !== this.config.loop.schedule || config.loop.timezone !== this.config.loop.timezone;
    this.config = config;
    const replaced = this.policies;
    this.policies = policies;
    // After the tick and the operator requests that may still use them (custom policies' worker
    // threads): a drain started before the reload plans its later moves with its own policies.
    const users = [this.current, ...this.operatorRequests].map((p) => Promise.resolve(p).catch(() => undefined));
    void Promise.all(users).then(() => closePolicies(replaced));
    this.collector.setConfig(config);
    this.executor.setConfig(config);
    this.power.reload(config);
    this.notifier.setWebhooks(config.notifications.webhooks);
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
    // A power command under way is waited for (bounded by power.commandTimeoutSeconds) so its end is journaled.
    await this.power.idle();
    await this.connections.close();
    await closePolicies(this.policies);
    // Notifications still being delivered get a while (their own timeouts and retries bound them).
    const waitMs = 30_000;
    const delivered = await Promise.race([this.notifier.idle().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), waitMs).unref())]);
    if (!delivered) this.options.logger.warn({ waitedMs: waitMs }, 'stopping with webhook notifications still undelivered');
    await this.journal.close();
  }
}

/** The journal 'outcome' entry of a result (what the shared history keeps). */
