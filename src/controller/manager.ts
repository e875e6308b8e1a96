/**
 * The daemon around the controller (`virt-balancer run`): one run per state directory (the lock),
 * leader election with `ha:`, the metrics and health endpoint, signals (stop, reload) and config
 * reloads; it starts the Controller, whose tick observes, decides and acts.
 */
import { loadConfig, type Config } from '../config/index.js';
import { changedSections, settingsNeedingRestart } from '../config/reload.js';
import type { EtcdHa } from '../ha/etcd-ha.js';
import { StateDirError } from '../ha/state-dir.js';
import { lockStateDir, StateDirLockedError, type StateDirLock } from '../ha/state-lock.js';
import { createLogger, type Logger } from '../log/logger.js';
import { createMetrics, type Metrics } from '../metrics/catalog.js';
import { listenProblem, startMetricsServer, tickHealth } from '../metrics/server.js';
import { Controller } from './controller.js';
import { controlSocketPath } from './control-protocol.js';
import { type ControlServer, startControlServer } from './control-server.js';
import { operatorRequestHandler } from './operator-requests.js';
import { daemonApiBackend } from './api/handlers.js';
import { type ApiServer, startApiServer } from './api/server.js';
import type { DaemonSignals } from './daemon-signals.js';
import { UserFacingError } from './errors.js';
import { schedulePeriodSeconds } from './schedule.js';

/** What `run` was asked: the config file, --log-level (overrides log.level), --dry-run, --once. */
export interface ManagerOptions {
  config: string;
  logLevel?: string;
  dryRun?: boolean;
  once?: boolean;
}

type MetricsServer = Awaited<ReturnType<typeof startMetricsServer>>;

export class Manager {
  private logger!: Logger;
  private readonly metrics: Metrics = createMetrics();
  private lock!: StateDirLock;
  private ha?: EtcdHa;
  private controller!: Controller;
  private server?: MetricsServer;
  /** migrate, drain and approve hand their requests to this daemon here (control-protocol.ts). */
  private control?: ControlServer;
  /** The HTTP API (config api:), off without it. */
  private api?: ApiServer;

  private constructor(
    private config: Config,
    private readonly options: ManagerOptions,
    private readonly signals: DaemonSignals,
  ) {}

  /**
   * Run the daemon until stopped (or one tick with --once).
   * @throws UserFacingError when it cannot start (the state directory held, a bad config) or --once did not plan.
   */
  static async run(options: ManagerOptions, signals: DaemonSignals): Promise<void> {
    const config = await loadConfig(options.config);
    const badListen = options.once ? undefined : listenProblem(config.metrics.listen);
    if (badListen) throw new UserFacingError(`invalid config ${options.config}:\n  - ${badListen}`, 2);
    const manager = new Manager(config, options, signals);
    if (!(await manager.start())) return;
    if (options.once) return manager.runOnce();
    await manager.serve();
  }

  /** Lock, HA, controller init. False when a stop signal came during start-up (everything released). */
  private async start(): Promise<boolean> {
    const { config, options, signals } = this;
    this.logger = createLogger({ level: (options.logLevel ?? config.log.level) as 'info' });
    signals.setLogger(this.logger);
    // One run per state directory on this machine, ha: or not (two would share one journal).
    try {
      this.lock = await lockStateDir(config.stateDir);
    } catch (error) {
      if (error instanceof StateDirLockedError || error instanceof StateDirError) throw new UserFacingError(`cannot start: ${error.message}`);
      throw error;
    }
    try {
      // Loaded only with ha: (the gRPC client adds to every CLI start otherwise).
      this.ha = config.ha ? new (await import('../ha/etcd-ha.js')).EtcdHa(config.ha, { logger: this.logger, metrics: this.metrics }) : undefined;
    } catch (error) {
      await this.lock.release();
      throw new UserFacingError(`invalid config ${options.config}:\n  - ${(error as Error).message}`, 2);
    }
    if (!this.ha) this.metrics.leader.set(1);
    const ha = this.ha ? { gate: this.ha, store: this.ha } : undefined;
    this.controller = new Controller(config, { logger: this.logger, metrics: this.metrics, dryRun: options.dryRun ? true : undefined, ha });
    try {
      await this.controller.init();
    } catch (error) {
      await this.ha?.stop();
      await this.lock.release();
      throw error;
    }
    if (signals.stopPending) {
      signals.phase = 'stopping';
      this.logger.info({ signal: signals.stopPending }, 'stopping: asked to during start-up');
      await this.stopAll();
      this.logger.info('stopped');
      return false;
    }
    this.ha?.start();
    return true;
  }

  private async stopAll(): Promise<void> {
    // No new operator requests; those being served end with the controller (their migrations are left to libvirt).
    await this.api?.close();
    await this.control?.close();
    await this.controller.stop();
    await this.ha?.stop();
    await this.lock.release();
  }

  /** run --once: one tick, its migrations and power actions waited for, then stop. */
  private async runOnce(): Promise<void> {
    const { controller, logger, ha } = this;
    // Rates need two readings some time apart.
    await new Promise((r) => setTimeout(r, 2000));
    if (ha) await ha.step();
    const report = await controller.tick();
    await controller.executor.whenIdle();
    // A power command this tick started is waited for (bounded by power.commandTimeoutSeconds) and its result journaled.
    if (controller.power.busy > 0) logger.info({ timeoutSeconds: this.config.power.commandTimeoutSeconds }, 'waiting for the power actions this tick started');
    await controller.power.idle();
    this.signals.phase = 'stopping';
    await this.stopAll();
    logger.info(
      {
        moves: report.plan.moves.length,
        results: controller.executor.finished().map((r) => `${r.vm}:${r.outcome}`),
        power: report.power?.actions.map((a) => `${a.host}:${a.action}:${a.mode}`),
        role: report.role,
      },
      'one tick done',
    );
    // A tick that saw no host, or did not plan, did not do what --once asks: say so in the exit status.
    const down = report.state.hosts.filter((h) => !h.up);
    if (report.state.hosts.length > 0 && down.length === report.state.hosts.length)
      throw new UserFacingError(`no host could be read (${down.map((h) => `${h.name}: ${h.downReason ?? 'down'}`).join('; ')}); nothing was planned`);
    if (report.role === 'standby')
      throw new UserFacingError('this controller was standby (another leads, or etcd did not confirm its leadership): it only collected; nothing was planned');
  }

  /** /healthz: the last tick's age against the schedule, and with ha: this member's role. */
  private health() {
    const { controller, ha } = this;
    const health = tickHealth(
      controller.lastTickEndedAtMs,
      controller.startedAtMs,
      schedulePeriodSeconds(this.config.loop.schedule, this.config.loop.timezone),
    );
    if (!ha) return health;
    const standbyReason = ha.standbyReason();
    return {
      ...health,
      detail: { ...health.detail, role: ha.role(), member: ha.member, leader: ha.currentLeader ?? null, ...(standbyReason ? { standbyReason } : {}) },
    };
  }

  /** Serve metrics, tick on the schedule, reload on SIGHUP, until SIGTERM/SIGINT. */
  private async serve(): Promise<void> {
    const { config, controller, logger, ha, signals } = this;
    // The controller holds connections open: if it cannot serve metrics, it must stop them and
    // exit non-zero (so systemd restarts it), not keep running unobserved.
    try {
      this.server = config.metrics.listen ? await startMetricsServer(config.metrics.listen, this.metrics.registry, () => this.health()) : undefined;
    } catch (error) {
      await this.stopAll();
      throw new UserFacingError(`${(error as Error).message}; stopping (set metrics.listen to a free host:port, or "" to turn the endpoint off)`);
    }
    try {
      this.control = await startControlServer(controlSocketPath(config.stateDir), operatorRequestHandler(controller), logger);
    } catch (error) {
      await this.stopAll();
      await this.server?.close();
      throw new UserFacingError(`cannot open the control socket: ${(error as Error).message}`);
    }
    try {
      this.api = config.api
        ? await startApiServer(config.api, daemonApiBackend(controller, this.options.config), { logger, metrics: this.metrics })
        : undefined;
    } catch (error) {
      await this.stopAll();
      await this.server?.close();
      throw new UserFacingError(`cannot start the HTTP API: ${(error as Error).message}; stopping (fix the api: section, or remove it to turn the API off)`);
    }
    controller.start();
    logger.info(
      {
        config: this.options.config,
        hosts: config.hosts.map((h) => h.name),
        schedule: config.loop.schedule,
        metrics: config.metrics.listen || 'off',
        dryRun: controller.dryRun,
        ha: ha ? { member: ha.member, endpoints: config.ha!.endpoints } : 'off',
        stateDirLock: this.lock.file,
        controlSocket: this.control.path,
        api: this.api ? `${config.api!.tls ? 'https' : 'http'}://${this.api.address}` : 'off',
      },
      'virt-balancer running',
    );
    await new Promise<void>((resolve) => {
      signals.onStop = (signal: string) => {
        signals.phase = 'stopping';
        logger.info({ signal }, 'stopping: finishing the current tick; running migrations are left to libvirt');
        void this.stopAll()
          .then(() => void this.server?.close())
          .then(
            () => resolve(),
            () => resolve(),
          );
      };
      // One reload at a time, in the order asked.
      let reloads = Promise.resolve();
      signals.onReload = () => {
        reloads = reloads.then(() => this.reload());
      };
      signals.phase = 'running';
      if (signals.hupPending) {
        signals.hupPending = false;
        logger.info('reloading the config: a SIGHUP came during start-up');
        signals.onReload();
      }
    });
    logger.info('stopped');
    // Everything of ours is closed. The etcd3 client can leave a retry timer behind after
    // close() (seen after etcd lost quorum and got it back), which would keep the process up.
    if (ha) setTimeout(() => process.exit(), 3000).unref();
  }

  /** SIGHUP: read the config again and apply it, unless a setting that needs a restart changed. */
  private async reload(): Promise<void> {
    const { logger, options } = this;
    let next: Config;
    try {
      next = await loadConfig(options.config);
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'config reload failed; keeping the running config');
      return;
    }
    const needRestart = settingsNeedingRestart(this.config, next);
    if (needRestart.length > 0) {
      logger.error(
        { settings: needRestart },
        `config reload refused: ${needRestart.join(', ')} cannot change while running (restart virt-balancer to change ${needRestart.length > 1 ? 'them' : 'it'}, or put the running value back); keeping the running config`,
      );
      return;
    }
    if (this.signals.phase !== 'running') return;
    try {
      await this.controller.reload(next);
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'config reload failed; keeping the running config');
      return;
    }
    const changed = changedSections(this.config, next);
    this.config = next;
    if (options.logLevel === undefined && logger.level !== next.log.level) logger.level = next.log.level;
    logger.info(
      {
        hosts: next.hosts.map((h) => h.name),
        changed,
        ...(options.logLevel !== undefined && changed.includes('log') ? { logLevel: `${options.logLevel} (--log-level overrides log.level)` } : {}),
      },
      changed.length > 0 ? 'config reloaded' : 'config reloaded: nothing changed',
    );
  }
}
