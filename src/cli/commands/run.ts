/** `virt-balancer run`: the daemon. SIGTERM/SIGINT finish the current tick and exit 0; SIGHUP reloads the config. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { Controller } from '../../controller/controller.js';
import { schedulePeriodSeconds } from '../../controller/schedule.js';
import type { EtcdHa } from '../../ha/etcd-ha.js';
import { lockStateDir, StateDirLockedError, type StateDirLock } from '../../ha/state-lock.js';
import { createLogger } from '../../log/logger.js';
import { createMetrics } from '../../metrics/catalog.js';
import { listenProblem, startMetricsServer, tickHealth } from '../../metrics/server.js';
import { action, UserError } from '../errors.js';
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
        let config = await loadConfig(options.config);
        const badListen = options.once ? undefined : listenProblem(config.metrics.listen);
        if (badListen) throw new UserError(`invalid config ${options.config}:\n  - ${badListen}`, 2);
        const logger = createLogger({ level: (options.logLevel ?? config.log.level) as 'info' });
        const metrics = createMetrics();
        // One run per state directory on this machine, ha: or not (two would share one journal).
        let lock: StateDirLock;
        try {
          lock = await lockStateDir(config.stateDir);
        } catch (error) {
          if (error instanceof StateDirLockedError) throw new UserError(`cannot start: ${error.message}`);
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
                const health = tickHealth(controller.lastTickEndedAtMs, controller.startedAtMs, schedulePeriodSeconds(config.loop.schedule));
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
          let stopping = false;
          const stop = (signal: string) => {
            if (stopping) return;
            stopping = true;
            logger.info({ signal }, 'stopping: finishing the current tick; running migrations are left to libvirt');
            void stopAll()
              .then(() => void server?.close())
              .then(
                () => resolve(),
                () => resolve(),
              );
          };
          process.once('SIGTERM', () => stop('SIGTERM'));
          process.once('SIGINT', () => stop('SIGINT'));
          process.on('SIGHUP', () => {
            loadConfig(options.config)
              .then(async (next) => {
                await controller.reload(next);
                config = next;
                logger.info({ hosts: next.hosts.map((h) => h.name) }, 'config reloaded');
              })
              .catch((error: Error) => logger.error({ err: error.message }, 'config reload failed; keeping the running config'));
          });
        });
        logger.info('stopped');
        // Everything of ours is closed. The etcd3 client can leave a retry timer behind after
        // close() (seen after etcd lost quorum and got it back), which would keep the process up.
        if (ha) setTimeout(() => process.exit(), 3000).unref();
      }),
    );
}
