/** `virt-balancer run`: the daemon. SIGTERM/SIGINT finish the current tick and exit 0; SIGHUP reloads the config. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { Controller } from '../../controller/controller.js';
import { schedulePeriodSeconds } from '../../controller/schedule.js';
import { createLogger } from '../../log/logger.js';
import { createMetrics } from '../../metrics/catalog.js';
import { listenProblem, startMetricsServer, tickHealth } from '../../metrics/server.js';
import { action, UserError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('run')
    .description('run the controller: collect, plan and migrate on the schedule, until SIGTERM')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--log-level <level>', 'log level (overrides log.level)')
    .option('--dry-run', 'plan and log only, never migrate (overrides loop.dryRun)')
    .option('--once', 'run one tick, wait for its migrations, and exit')
    .action(
      action(async (options: { config: string; logLevel?: string; dryRun?: boolean; once?: boolean }) => {
        let config = await loadConfig(options.config);
        const badListen = options.once ? undefined : listenProblem(config.metrics.listen);
        if (badListen) throw new UserError(`invalid config ${options.config}:\n  - ${badListen}`, 2);
        const logger = createLogger({ level: (options.logLevel ?? config.log.level) as 'info' });
        const metrics = createMetrics();
        const controller = new Controller(config, { logger, metrics, dryRun: options.dryRun ? true : undefined });
        await controller.init();
        if (options.once) {
          // Rates need two readings some time apart.
          await new Promise((r) => setTimeout(r, 2000));
          const report = await controller.tick();
          await controller.executor.whenIdle();
          await controller.stop();
          logger.info({ moves: report.plan.moves.length, results: controller.executor.finished().map((r) => `${r.vm}:${r.outcome}`) }, 'one tick done');
          return;
        }
        // The controller holds connections open: if it cannot serve metrics, it must stop them and
        // exit non-zero (so systemd restarts it), not keep running unobserved.
        let server;
        try {
          server = config.metrics.listen
            ? await startMetricsServer(config.metrics.listen, metrics.registry, () => tickHealth(controller.lastTickEndedAtMs, controller.startedAtMs, schedulePeriodSeconds(config.loop.schedule)))
            : undefined;
        } catch (error) {
          await controller.stop();
          throw new UserError(`${(error as Error).message}; stopping (set metrics.listen to a free host:port, or "" to turn the endpoint off)`);
        }
        controller.start();
        logger.info({ config: options.config, hosts: config.hosts.map((h) => h.name), schedule: config.loop.schedule, metrics: config.metrics.listen || 'off', dryRun: controller.dryRun }, 'virt-balancer running');
        await new Promise<void>((resolve) => {
          let stopping = false;
          const stop = (signal: string) => {
            if (stopping) return;
            stopping = true;
            logger.info({ signal }, 'stopping: finishing the current tick; running migrations are left to libvirt');
            void controller.stop().then(() => void server?.close()).then(() => resolve(), () => resolve());
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
      }),
    );
}
