/**
 * The executor: admits planned moves, runs them in the background, journals every decision and
 * outcome, and after a restart adopts jobs it finds running on the hosts instead of starting a
 * second one.
 */
import type { ClusterState, InFlightMigration } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import type { LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { moveIdentity, type Move } from '../policy/plan-types.js';
import { admit, MoveQueue, type AdmissionResult, type AdmitOptions, type NotAdmitted, type RunningMove } from '../policy/scheduling.js';
import { adoptedBase, watchAdoptedJob } from './adopt.js';
import type { Journal, UnfinishedStart } from '../history/journal.js';
import { deadlineSecondsFor, recordResult, type MigrationProgress, type MigrationResult } from './migrate.js';
import { runMigrationWithTls } from './migration-tls.js';
import { failedResult, outcomeEntry, resultBase } from './result.js';

export interface ConnectionSource {
  get(host: string): LibvirtConnection | undefined;
  hostConfig(host: string): { uri: string; migrationAddress?: string } | undefined;
}

interface Running extends RunningMove {
  move?: Move;
  vmName: string;
  startedAtMs: number;
  /** Found on a host, not started by this process: after a restart (journaled) or by someone else. */
  adopted: boolean;
  done?: Promise<MigrationResult | undefined>;
  /** Why a move this process was asked to start never started (its start could not be journaled). */
  notStartedReason?: string;
}

export class Executor {
  private readonly running = new Map<string, Running>();
  private readonly results: MigrationResult[] = [];
  /** Migrations an earlier run journaled as started and never saw end, by VM UUID. */
  private readonly unfinished = new Map<string, UnfinishedStart>();
  /** Moves over a budget, waiting for a slot (policy/scheduling.ts); the latest submit's. */
  private readonly queue = new MoveQueue();
  /** The state the queued moves were admitted against (inFlight is this executor's running). */
  private queuedState?: ClusterState;
  /** Queued moves that could not start when their turn came (a host went down, ...). */
  private readonly droppedFromQueue: NotAdmitted[] = [];
  private detached = false;

  constructor(
    private config: Config,
    private readonly deps: {
      connections: ConnectionSource;
      logger: Logger;
      metrics?: Metrics;
      journal: Journal;
      onProgress?: (move: Move, p: MigrationProgress) => void;
      onResult?: (r: MigrationResult) => void;
      /** A move this executor starts, once its start is journaled (before libvirt is asked). */
      onStart?: (move: Move) => void;
      /**
       * With ha: commits the decision to start (fenced by the leader's etcd term) before the
       * journal and libvirt hear of it; resolves with why not when this controller may not start.
       */
      commitStart?: (start: UnfinishedStart) => Promise<string | undefined>;
    },
  ) {}

  /**
   * The controller is shutting down and closes its connections: migrations keep running in
   * libvirt (peer-to-peer), so what our side sees next is not their outcome and is not recorded.
   */
  detach(): void {
    this.detached = true;
  }

  setConfig(config: Config): void {
    this.config = config;
  }

  inFlight(): InFlightMigration[] {
    return [...this.running.values()].map((r) => ({ vmUuid: r.vmUuid, vmName: r.vmName, from: r.from, to: r.to, startedAtMs: r.startedAtMs }));
  }

  finished(): readonly MigrationResult[] {
    return this.results;
  }

  /** Moves waiting in the queue for a slot, in the order they will get one. */
  queued(): readonly Move[] {
    return this.queue.moves;
  }

  /** Forget the queued moves (this controller is no longer the one that starts moves). */
  clearQueue(): void {
    this.queue.clear();
    this.deps.metrics?.migrationsQueued.set(0);
  }

  /** Queued moves that could not start when a slot freed (their host went down, ...), with why. */
  dropped(): readonly NotAdmitted[] {
    return this.droppedFromQueue;
  }

  /** What the journal says an earlier run started and never saw end (call before the first reconcile). */
  restoreUnfinished(unfinished: ReadonlyMap<string, UnfinishedStart>): void {
    for (const [uuid, job] of unfinished) this.unfinished.set(uuid, job);
  }

  /**
   * Adopt jobs found running on the hosts that this process did not start. A job an earlier run
   * journaled is watched to its end (deadline kept, outcome recorded); anyone else's is only kept
   * from getting a second job until it ends. A journaled job that ended while no controller was
   * running gets its outcome recorded the same way (the VM is found on its source or target).
   */
  reconcile(state: ClusterState): void {
    for (const vm of state.vms) {
      if (this.running.has(vm.uuid)) continue;
      const journaled = this.unfinished.get(vm.uuid);
      // During a migration the VM shows on both hosts; either one identifies the journaled job.
      if (journaled && (vm.host === journaled.from || vm.host === journaled.to)) {
        this.unfinished.delete(vm.uuid);
        this.adoptJournaled(journaled, vm.jobRunning);
      } else if (vm.jobRunning) {
        this.running.set(vm.uuid, {
          vmUuid: vm.uuid,
          vmName: vm.name,
          from: vm.host,
          to: '',
          bandwidthMiBps: 0,
          startedAtMs: state.observedAtMs,
          adopted: true,
        });
        this.deps.logger.warn(
          { vm: vm.name, host: vm.host },
          'found a running migration job this controller did not start; no second job for this VM until it ends',
        );
        void this.deps.journal.append({ type: 'found-running-job', atMs: Date.now(), vm: vm.name, vmUuid: vm.uuid, host: vm.host });
      }
    }
    for (const [uuid, r] of [...this.running]) {
      if (!r.adopted || r.done) continue;
      const vm = state.vms.find((v) => v.uuid === uuid);
      const hostUp = state.hosts.find((h) => h.name === r.from)?.up ?? false;
      if (hostUp && !vm?.jobRunning) {
        this.running.delete(uuid);
        this.startQueued();
      }
    }
  }

  private adoptJournaled(job: UnfinishedStart, stillRunning: boolean): void {
    const { logger, journal, connections } = this.deps;
    logger.warn(
      { vm: job.vm, from: job.from, to: job.to, technique: job.technique, stillRunning },
      stillRunning
        ? 'found the migration an earlier run started still running; watching it to its end, no second job'
        : 'the migration an earlier run started ended while no controller watched; recording its outcome',
    );
    void journal.append({ type: 'found-running-job', atMs: Date.now(), vm: job.vm, vmUuid: job.vmUuid, host: job.from });
    const entry: Running = {
      vmUuid: job.vmUuid,
      vmName: job.vm,
      from: job.from,
      to: job.to,
      bandwidthMiBps: this.config.migration.bandwidthMiBps ?? 0,
      startedAtMs: job.startedAtMs,
      adopted: true,
    };
    this.running.set(job.vmUuid, entry);
    if (stillRunning) this.deps.metrics?.migrationsInFlight.inc();
    entry.done = watchAdoptedJob({
      job,
      connectionOf: (host) => connections.get(host),
      targetUri: connections.hostConfig(job.to)?.uri,
      config: this.config.migration,
      logger,
      metrics: this.deps.metrics,
      stopped: () => this.detached,
      onAdapt: (action, detail) => void journal.append({ type: 'adapted', atMs: Date.now(), vm: job.vm, vmUuid: job.vmUuid, action, detail }),
    })
      .catch((error: Error): MigrationResult => failedResult(adoptedBase(job), { error: error.message }))
      .then(async (result) => {
        if (stillRunning) this.deps.metrics?.migrationsInFlight.dec();
        if (!result) {
          this.running.delete(job.vmUuid);
          this.startQueued();
          return undefined;
        }
        return this.finish(result);
      });
  }

  /**
   * Admit what may start now (policy/scheduling.ts: budgets, priorities) and start it; returns at
   * once (moves run in the background). Moves over a budget replace the queue: each starts as soon
   * as a running migration ends and frees its slot, not at the next submit (no waves). `rejected`
   * holds both: `waits` true for the queued ones. `options.tickSeconds` paces balancing moves by
   * measured durations (the controller passes its tick).
   */
  submit(moves: readonly Move[], state: ClusterState, options: AdmitOptions = {}): AdmissionResult {
    const { journal } = this.deps;
    if (!journal.writable) {
      // A decision the journal cannot record is a decision not taken.
      const reason = `the journal ${journal.file} cannot be written (${journal.lastError?.message ?? 'entries waiting'}); no migration starts until it can`;
      for (const move of moves) this.deps.logger.warn({ vm: move.vmName, from: move.from, to: move.to, reason }, 'move not admitted');
      this.queue.clear();
      this.deps.metrics?.migrationsQueued.set(0);
      return { admitted: [], rejected: moves.map((move) => ({ move, reason, waits: false })) };
    }
    const result = admit(moves, [...this.running.values()], state, this.config.migration, options);
    this.queue.replace(result.rejected.filter((r) => r.waits).map((r) => r.move));
    this.queuedState = state;
    this.deps.metrics?.migrationsQueued.set(this.queue.size);
    for (const { move, reason, waits } of result.rejected) {
      this.deps.logger.info({ vm: move.vmName, from: move.from, to: move.to, reason }, waits ? 'move queued: starts when a slot frees' : 'move not admitted');
      void this.deps.journal.append({ type: 'rejected', atMs: Date.now(), vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, reason });
    }
    for (const move of result.admitted) this.start(move);
    return result;
  }

  /** A slot freed: start the queued moves that fit now, in priority order. */
  private startQueued(): void {
    if (this.detached || this.queue.size === 0 || !this.queuedState || !this.deps.journal.writable) return;
    const { admitted, rejected } = this.queue.next([...this.running.values()], this.queuedState, this.config.migration);
    this.deps.metrics?.migrationsQueued.set(this.queue.size);
    for (const r of rejected) {
      this.droppedFromQueue.push(r);
      this.deps.logger.info({ vm: r.move.vmName, from: r.move.from, to: r.move.to, reason: r.reason }, 'queued move not started');
      void this.deps.journal.append({ type: 'rejected', atMs: Date.now(), ...moveIdentity(r.move), reason: r.reason });
    }
    for (const move of admitted) {
      this.deps.logger.info({ vm: move.vmName, from: move.from, to: move.to }, 'queued move starts: a slot freed');
      this.start(move);
    }
  }

  /** Run one move now, bypassing admission limits (the `migrate` command), and wait for it. */
  async runNow(move: Move, extra: { onProgress?: (p: MigrationProgress) => void } = {}): Promise<MigrationResult> {
    if (this.running.has(move.vmUuid)) throw new Error(`a migration of ${move.vmName} is already running`);
    const r = this.start(move, extra.onProgress);
    const result = await r.done;
    if (!result) throw new Error(`the migration of ${move.vmName} did not start: ${r.notStartedReason ?? 'the controller is shutting down'}`);
    return result;
  }

  private start(move: Move, onProgress?: (p: MigrationProgress) => void): Running {
    const { logger, metrics, journal, connections } = this.deps;
    const entry: Running = {
      vmUuid: move.vmUuid,
      vmName: move.vmName,
      from: move.from,
      to: move.to,
      bandwidthMiBps: this.config.migration.bandwidthMiBps > 0 ? this.config.migration.bandwidthMiBps : move.inputs.bandwidthMiBps,
      copyStorage: move.copyStorage,
      move,
      startedAtMs: Date.now(),
      adopted: false,
    };
    this.running.set(move.vmUuid, entry);
    entry.done = (async () => {
      const startedAtMs = Date.now();
      const deadlineSeconds = deadlineSecondsFor(move, this.config.migration);
      const refusal = await this.deps.commitStart?.({
        ...moveIdentity(move),
        technique: move.technique,
        startedAtMs,
        predicted: move.predicted,
        deadlineSeconds,
      });
      if (refusal !== undefined) {
        entry.notStartedReason = refusal;
        logger.warn({ vm: move.vmName, from: move.from, to: move.to, reason: refusal }, 'migration not started: this controller may not start migrations now');
        this.running.delete(move.vmUuid);
        this.startQueued();
        return undefined;
      }
      try {
        // On disk before libvirt hears of it, so a restart always knows what it may have to adopt.
        await journal.appendDurably({
          type: 'started',
          atMs: startedAtMs,
          ...moveIdentity(move),
          technique: move.technique,
          predicted: move.predicted,
          deadlineSeconds,
        });
      } catch (error) {
        entry.notStartedReason = (error as Error).message;
        logger.error({ vm: move.vmName, from: move.from, to: move.to, err: entry.notStartedReason }, 'migration not started: its start cannot be journaled');
        this.running.delete(move.vmUuid);
        this.startQueued();
        return undefined;
      }
      this.deps.onStart?.(move);
      const source = connections.get(move.from);
      const target = connections.get(move.to);
      const targetConfig = connections.hostConfig(move.to);
      const targetUri = targetConfig?.uri;
      let result: MigrationResult;
      if (!source || !target || !targetUri) {
        result = failedResult(resultBase(move, Date.now()), { error: `host ${!source ? move.from : move.to} is not connected`, notStarted: true });
      } else {
        try {
          result = await runMigrationWithTls(move, {
            source,
            target,
            targetUri,
            targetMigrationAddress: targetConfig?.migrationAddress,
            tlsMode: this.config.migration.tls,
            connectionOf: (host) => connections.get(host),
            stopped: () => this.detached,
            config: this.config.migration,
            downtimeBudgetMs: this.config.policy.downtimeBudgetMs,
            allowPostcopySwitch: this.config.policy.allowedTechniques.includes('postcopy') || this.config.policy.allowedTechniques.includes('hybrid'),
            logger,
            metrics,
            onProgress: (p) => {
              onProgress?.(p);
              this.deps.onProgress?.(move, p);
            },
            onAdapt: (action, detail) => void journal.append({ type: 'adapted', atMs: Date.now(), vm: move.vmName, vmUuid: move.vmUuid, action, detail }),
          });
        } catch (error) {
          result = failedResult(resultBase(move, entry.startedAtMs), { error: (error as Error).message, notStarted: true });
        }
      }
      if (this.detached) {
        this.running.delete(move.vmUuid);
        return result;
      }
      return this.finish(result);
    })();
    return entry;
  }

  /** Record an outcome: metrics, journal, then onResult (the caller's history starts the VM's cooldown there). */
  private async finish(result: MigrationResult): Promise<MigrationResult> {
    recordResult(this.deps.metrics, result);
    this.results.push(result);
    await this.deps.journal.append(outcomeEntry(result));
    this.running.delete(result.vmUuid);
    // The freed slot goes to the next queued move now, before anyone awaits this result.
    this.startQueued();
    this.deps.onResult?.(result);
    return result;
  }

  /**
   * Resolves when every migration this executor started or adopted from the journal has ended and
   * its queue is empty (queued moves start as slots free, so this is the end of a drain).
   */
  async whenIdle(): Promise<void> {
    const watched = () => [...this.running.values()].filter((r) => r.done);
    for (;;) {
      if (watched().length === 0) this.startQueued();
      if (watched().length === 0) return;
      // Any one ending may start queued moves: wait for the first, then look again.
      await Promise.race(watched().map((r) => r.done));
    }
  }
}
