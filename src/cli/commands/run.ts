/** `virt-balancer run`: the daemon. SIGTERM/SIGINT finish the current tick and exit 0; SIGHUP reloads the config. */
import type { Command } from 'commander';
import { DaemonSignals } from '../../controller/daemon-signals.js';
import { Manager, type ManagerOptions } from '../../controller/manager.js';
import { takeEarlySignals } from '../early-signals.js';
import { action } from '../errors.js';
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
      action(async (options: ManagerOptions) => {
        // Signals are ours from the first moment (controller/daemon-signals.ts); those that came
        // while the CLI was loading are handled as if they came now (early-signals.ts).
        const signals = new DaemonSignals(options.once === true, takeEarlySignals);
        try {
          await Manager.run(options, signals);
        } finally {
          signals.detach();
        }
      }),
    );
}
