/** `virt-balancer check-config`: validate the config and load its policies; lists every problem. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { validateSchedule } from '../../controller/schedule.js';
import { listenProblem } from '../../metrics/server.js';
import { CORE_FILTERS, loadPolicies } from '../../policy/index.js';
import { action, UserError } from '../errors.js';

export function register(program: Command): void {
  program
    .command('check-config')
    .description('validate a config file and load the policies it names (exit 2 when invalid)')
    .requiredOption('-c, --config <file>', 'config file')
    .action(
      action(async (options: { config: string }) => {
        const config = await loadConfig(options.config);
        const problems = [validateSchedule(config.loop.schedule), listenProblem(config.metrics.listen)].filter((p): p is string => p !== undefined);
        if (problems.length > 0) throw new UserError(`invalid config ${options.config}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 2);
        const policies = await loadPolicies(config.policy).catch((error: Error) => {
          throw new UserError(`invalid config ${options.config}:\n  - ${error.message}`, 2);
        });
        process.stdout.write(
          `${options.config}: OK (${config.hosts.length} hosts; policies ${policies.map((p) => p.policy.name).join(', ')}; core filters ${CORE_FILTERS.map((f) => f.name).join(', ')})\n`,
        );
      }),
    );
}
