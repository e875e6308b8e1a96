/** `virt-balancer run`: the daemon. SIGTERM/SIGINT finish the current tick and exit 0; SIGHUP reloads the config. */
import type { Command } from 'commander';
import { loadConfig, type Config } from '../../config/index.js';
import { changedSections, settingsNeedingRestart } from '../../config/reload.js';
import { Controller } from '../../controller/controller.js';
import { schedulePeriodSeconds } from '../../controller/schedule.js';
import type { EtcdHa } from '../../ha/etcd-ha.js';
import { StateDirError } from '../../ha/state-dir.js';
import { lockStateDir, StateDirLockedError, type StateDirLock } from '../../ha/state-lock.js';
import { createLogger, type Logger } from '../../log/logger.js';
import { createMetrics } from '../../metrics/catalog.js';
import { listenProblem, startMetricsServer, tickHealth } from '../../metrics/server.js';
import { action, UserError } from '../errors.js';
import { takeEarlySignals } from '../early-signals.js';
import { err } from '../output.js';
import { logLevelOption } from '../logging.js';

export function register(program: Command): void {
  program
    .command('run')
    .description('run the controller: collect, plan and migrate on the schedule, until SIGTERM')
    .requiredOption('-c, --config <file>', 'config file')
    .addOption(logLevelOption(null))
    .option('--dry-run', 'plan and log only, never migrate (overrides loop.dryRun)')
    .option('--once', 'run one tick, wait for its migrations, and exit')
    .action(
      action(async (options: { config: string; logLevel?: string; dryRun?: boolean; once?: boolean }) => {
        // Signals are ours from the first moment: Node's defaults would end the process silently
        // (SIGHUP: rc 129, which systemd's Restart=on-failure takes for a clean stop; SIGUSR2) or
        // open a debugger on 127.0.0.1:9229 (SIGUSR1). Until start-up ends, SIGHUP is queued and
        // SIGTERM/SIGINT stop the daemon once it can stop cleanly (a second one stops it at once).
        const signals = new DaemonSignals(options.once === true);
        try {
          await startAndServe(options, signals);
        } finally {
          signals.detach();
        }
      }),
    );
}

type Phase = 'starting' | 'running' | 'stopping';

/**
 * The daemon's signal handling through every phase: installed before the config is read, logging
 * each signal (to the logger once there is one; what came before it is logged when it exists).
 */
class DaemonSignals {
  phase: Phase = 'starting';
  /** run --once: no reload to queue. */
  once = false;
  private logger?: Logger;
  /** A SIGHUP arrived during start-up: reload once running. */
  hupPending = false;
  /** SIGTERM/SIGINT arrived during start-up: stop once start-up can end cleanly. */
  stopPending?: string;
  /** SIGHUP while running. */
  onReload?: () => void;
  /** SIGTERM/SIGINT while running. */
  onStop?: (signal: string) => void;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private readonly early: { signal: string; phase: Phase; message: string }[] = [];

  constructor(once: boolean) {
    this.once = once;
    const on = (signal: NodeJS.Signals, handler: () => void) => {
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    };
    on('SIGHUP', () => {
      if (this.phase === 'running' && this.onReload) return this.onReload();
      if (this.once) return this.note('SIGHUP', 'SIGHUP during run --once: ignored (it reads the config once)');
      if (this.phase === 'starting') {
        this.hupPending = true;
        this.note('SIGHUP', 'SIGHUP during start-up: the config will be reloaded once start-up ends');
      } else this.note('SIGHUP', 'SIGHUP while stopping: ignored');
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      on(signal, () => {
        if (this.phase === 'running' && this.onStop) return this.onStop(signal);
        if (this.phase === 'starting' && this.stopPending === undefined) {
          this.stopPending = signal;
          this.note(signal, `${signal} during start-up: stopping as soon as start-up can end cleanly (send it again to stop at once)`);
          return;
        }
        if (this.phase === 'starting') {
          this.note(signal, `${signal} again during start-up: stopping at once`);
          // Before the config is read there is no logger; stderr reaches the journal all the same.
          if (!this.logger) err(`virt-balancer: ${signal} again during start-up: stopping at once\n`);
          process.exit(1);
        }
        this.note(signal, `${signal} while stopping: already stopping`);
      });
    }
    for (const signal of ['SIGUSR1', 'SIGUSR2', 'SIGALRM'] as const) on(signal, () => this.note(signal, `${signal} has no meaning to virt-balancer: ignored`));
    // Those that came while the CLI was loading, handled as if they came now (early-signals.ts).
    for (const signal of takeEarlySignals()) this.handlers.get(signal)?.();
  }

  private note(signal: string, message: string): void {
    if (this.logger) this.logger.warn({ signal, phase: this.phase }, message);
    else this.early.push({ signal, phase: this.phase, message });
  }

  /** The logger exists: log the signals that came before it. */
  setLogger(logger: Logger): void {
    this.logger = logger;
    for (const e of this.early.splice(0)) logger.warn({ signal: e.signal, phase: e.phase }, e.message);
  }

  detach(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.clear();
  }
}

/** `run` itself: start up (stopping early when asked), then serve until stopped. */
async function startAndServe(options: { config: string; logLevel?: string; dryRun?: boolean; once?: boolean }, signals: DaemonSignals): Promise<void> {
  let config = await loadConfig(options.config);
  const badListen = options.once ? undefined : listenProblem(config.metrics.listen);
  if (badListen) throw new UserError(`invalid config ${options.config}:\n  - ${badListen}`, 2);
  const logger = createLogger({ level: (options.logLevel ?? config.log.level) as 'info' });
  signals.setLogger(logger);
  const metrics = createMetrics();
  // One run per state directory on this machine, ha: or not (two would share one journal).
  let lock: StateDirLock;
  try {
    lock = await lockStateDir(config.stateDir);
  } catch (error) {
    if (error instanceof StateDirLockedError || error instanceof StateDirError) throw new UserError(`cannot start: ${error.message}`);
    throw error;
  }
  let ha: EtcdHa | undefined;
  try {
    // Loaded only with ha: (the gRPC client adds to every CLI start otherwise).
    ha = config.ha ? new (await import('../../ha/etcd-ha.js')).EtcdHa(config.ha, { logger, metrics }) : undefined;
  } catch (error) {
    await lock.release();
    throw new UserError(`invalid config ${options.config}:\n  - ${(error as Error).message}`, 2);
  }
  if (!ha) metrics.leader.set(1);
  const controller = new Controller(config, { logger, metrics, dryRun: options.dryRun ? true : undefined, ha: ha ? { gate: ha, store: ha } : undefined });
  const stopAll = async () => {
    await controller.stop();
    await ha?.stop();
    await lock.release();
  };
  try {
    await controller.init();
  } catch (error) {
    await ha?.stop();
    await lock.release();
    throw error;
  }
  if (signals.stopPending) {
    signals.phase = 'stopping';
    logger.info({ signal: signals.stopPending }, 'stopping: asked to during start-up');
    await controller.stop();
    await ha?.stop();
    await lock.release();
    logger.info('stopped');
    return;
  }
  ha?.start();
  if (options.once) {
    // Rates need two readings some time apart.
    await new Promise((r) => setTimeout(r, 2000));
    if (ha) await ha.step();
    const report = await controller.tick();
    await controller.executor.whenIdle();
    // A power command this tick started is waited for (bounded by power.commandTimeoutSeconds) and its result journaled.
    if (controller.power.busy > 0) logger.info({ timeoutSeconds: config.power.commandTimeoutSeconds }, 'waiting for the power actions this tick started');
    await controller.power.idle();
    signals.phase = 'stopping';
    await stopAll();
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
    if (report.state.hosts.length > 0 && down.length === report.state.hosts.length) {
      throw new UserError(`no host could be read (${down.map((h) => `${h.name}: ${h.downReason ?? 'down'}`).join('; ')}); nothing was planned`);
    }
    if (report.role === 'standby')
      throw new UserError('this controller was standby (another leads, or etcd did not confirm its leadership): it only collected; nothing was planned');
    return;
  }
  // The controller holds connections open: if it cannot serve metrics, it must stop them and
  // exit non-zero (so systemd restarts it), not keep running unobserved.
  let server;
  try {
    server = config.metrics.listen
      ? await startMetricsServer(config.metrics.listen, metrics.registry, () => {
          const health = tickHealth(controller.lastTickEndedAtMs, controller.startedAtMs, schedulePeriodSeconds(config.loop.schedule, config.loop.timezone));
          if (!ha) return health;
          return {
            ...health,
            detail: {
              ...health.detail,
              role: ha.role(),
              member: ha.member,
              leader: ha.currentLeader ?? null,
              ...(ha.standbyReason() ? { standbyReason: ha.standbyReason() } : {}),
            },
          };
        })
      : undefined;
  } catch (error) {
    await stopAll();
    throw new UserError(`${(error as Error).message}; stopping (set metrics.listen to a free host:port, or "" to turn the endpoint off)`);
  }
  controller.start();
  logger.info(
    {
      config: options.config,
      hosts: config.hosts.map((h) => h.name),
      schedule: config.loop.schedule,
      metrics: config.metrics.listen || 'off',
      dryRun: controller.dryRun,
      ha: ha ? { member: ha.member, endpoints: config.ha!.endpoints } : 'off',
      stateDirLock: lock.file,
    },
    'virt-balancer running',
  );
  await new Promise<void>((resolve) => {
    signals.onStop = (signal: string) => {
      signals.phase = 'stopping';
      logger.info({ signal }, 'stopping: finishing the current tick; running migrations are left to libvirt');
      void stopAll()
        .then(() => void server?.close())
        .then(
          () => resolve(),
          () => resolve(),
        );
    };
    const reload = async () => {
      let next: Config;
      try {
        next = await loadConfig(options.config);
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'config reload failed; keeping the running config');
        return;
      }
      const needRestart = settingsNeedingRestart(config, next);
      if (needRestart.length > 0) {
        logger.error(
          { settings: needRestart },
          `config reload refused: ${needRestart.join(', ')} cannot change while running (restart virt-balancer to change ${needRestart.length > 1 ? 'them' : 'it'}, or put the running value back); keeping the running config`,
        );
        return;
      }
      if (signals.phase !== 'running') return;
      try {
        await controller.reload(next);
      } catch (error) {
        logger.error({ err: (error as Error).message }, 'config reload failed; keeping the running config');
        return;
      }
      const changed = changedSections(config, next);
      config = next;
      if (options.logLevel === undefined && logger.level !== next.log.level) logger.level = next.log.level;
      logger.info(
        {
          hosts: next.hosts.map((h) => h.name),
          changed,
          ...(options.logLevel !== undefined && changed.includes('log') ? { logLevel: `${options.logLevel} (--log-level overrides log.level)` } : {}),
        },
        changed.length > 0 ? 'config reloaded' : 'config reloaded: nothing changed',
      );
    };
    // One reload at a time, in the order asked.
    let reloads = Promise.resolve();
    signals.onReload = () => {
      reloads = reloads.then(reload);
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
