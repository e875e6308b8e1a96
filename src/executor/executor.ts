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
import type { Move } from '../policy/plan-types.js';
import { admit, type AdmissionResult, type RunningMove } from './admission.js';
import type { Journal } from './journal.js';
import { recordResult, runMigration, type MigrationProgress, type MigrationResult } from './migrate.js';

export interface ConnectionSource {
  get(host: string): LibvirtConnection | undefined;
  hostConfig(host: string): { uri: string } | undefined;
}

interface Running extends RunningMove {
  move?: Move;
  vmName: string;
  startedAtMs: number;
  /** Found on a host (e.g. after a restart), not started by us. */
  adopted: boolean;
  done?: Promise<MigrationResult | undefined>;
}

export class Executor {
  private readonly running = new Map<string, Running>();
  private readonly results: MigrationResult[] = [];
  private readonly movedAtMs: Record<string, number> = {};
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

  lastMovedAtMs(): Record<string, number> {
    return { ...this.movedAtMs };
  }

  /** Adopt jobs found running on the hosts that we did not start; drop adopted ones that ended. */
  reconcile(state: ClusterState): void {
    for (const vm of state.vms) {
      if (vm.jobRunning && !this.running.has(vm.uuid)) {
        this.running.set(vm.uuid, { vmUuid: vm.uuid, vmName: vm.name, from: vm.host, to: '', bandwidthMiBps: 0, startedAtMs: state.observedAtMs, adopted: true });
        this.deps.logger.warn({ vm: vm.name, host: vm.host }, 'found a running migration job this controller did not start; watching it, no second job for this VM');
        void this.deps.journal.append({ type: 'found-running-job', atMs: Date.now(), vm: vm.name, vmUuid: vm.uuid, host: vm.host });
      }
    }
    for (const [uuid, r] of [...this.running]) {
      if (!r.adopted) continue;
      const vm = state.vms.find((v) => v.uuid === uuid);
      const hostUp = state.hosts.find((h) => h.name === r.from)?.up ?? false;
      if (hostUp && (!vm || !vm.jobRunning)) this.running.delete(uuid);
    }
  }

  /** Admit what may start now and start it; returns at once (moves run in the background). */
  submit(moves: readonly Move[], state: ClusterState): AdmissionResult {
    const result = admit(moves, [...this.running.values()], state, this.config.migration, {
      cooldownSeconds: this.config.policy.cooldownSeconds,
      nowMs: Date.now(),
      lastMovedAtMs: this.movedAtMs,
    });
    for (const { move, reason } of result.rejected) {
      this.deps.logger.info({ vm: move.vmName, from: move.from, to: move.to, reason }, 'move not admitted');
      void this.deps.journal.append({ type: 'rejected', atMs: Date.now(), vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, reason });
    }
    for (const move of result.admitted) this.start(move);
    return result;
  }

  /** Run one move now, bypassing admission limits (the `migrate` command), and wait for it. */
  async runNow(move: Move, extra: { onProgress?: (p: MigrationProgress) => void } = {}): Promise<MigrationResult> {
    if (this.running.has(move.vmUuid)) throw new Error(`a migration of ${move.vmName} is already running`);
    const r = this.start(move, extra.onProgress);
    return (await r.done)!;
  }

  private start(move: Move, onProgress?: (p: MigrationProgress) => void): Running {
    const { logger, metrics, journal, connections } = this.deps;
    const entry: Running = { vmUuid: move.vmUuid, vmName: move.vmName, from: move.from, to: move.to, bandwidthMiBps: move.inputs.bandwidthMiBps, move, startedAtMs: Date.now(), adopted: false };
    this.running.set(move.vmUuid, entry);
    entry.done = (async () => {
      await journal.append({ type: 'started', atMs: Date.now(), vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, technique: move.technique });
      const source = connections.get(move.from);
      const target = connections.get(move.to);
      const targetUri = connections.hostConfig(move.to)?.uri;
      let result: MigrationResult;
      if (!source || !target || !targetUri) {
        const now = Date.now();
        result = { vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, technique: move.technique, outcome: 'failed', totalMs: 0, switchedToPostcopy: false, predicted: move.predicted, error: `host ${!source ? move.from : move.to} is not connected`, startedAtMs: now, endedAtMs: now };
      } else {
        try {
          result = await runMigration(move, {
            source,
            target,
            targetUri,
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
          const now = Date.now();
          result = { vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, technique: move.technique, outcome: 'failed', totalMs: 0, switchedToPostcopy: false, predicted: move.predicted, error: (error as Error).message, startedAtMs: entry.startedAtMs, endedAtMs: now };
        }
      }
      if (this.detached) {
        this.running.delete(move.vmUuid);
        return result;
      }
      recordResult(metrics, result);
      if (result.outcome === 'completed') this.movedAtMs[move.vmUuid] = result.endedAtMs;
      this.results.push(result);
      await journal.append({ type: 'outcome', atMs: result.endedAtMs, vm: result.vm, vmUuid: result.vmUuid, from: result.from, to: result.to, technique: result.technique, outcome: result.outcome, totalMs: result.totalMs, downtimeMs: result.downtimeMs, bytes: result.bytes, predicted: result.predicted, error: result.error, incident: result.incident });
      this.running.delete(move.vmUuid);
      this.deps.onResult?.(result);
      return result;
    })();
    return entry;
  }

  /** Resolves when every migration this executor started has ended. */
  async whenIdle(): Promise<void> {
    while ([...this.running.values()].some((r) => !r.adopted)) {
      await Promise.all([...this.running.values()].filter((r) => !r.adopted).map((r) => r.done));
    }
  }
}
