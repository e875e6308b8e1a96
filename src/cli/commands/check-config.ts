/** `virt-balancer check-config`: validate the config and load its policies; lists every problem. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { validateSchedule } from '../../controller/schedule.js';
import { listenProblem } from '../../metrics/server.js';
import { CORE_FILTERS, loadPolicies } from '../../policy/index.js';
import { action, UserError } from '../errors.js';

/** The default policies whose absence changes what an operator relies on, and what stops happening. */
const DEFAULT_POLICY_DUTIES: [string, string][] = [
  ['maintenance', 'hosts in maintenance are not drained'],
  ['pin', 'policy.pinnedVms may be moved'],
  ['affinity', 'policy.affinityGroups are neither kept nor repaired'],
  ['cpu-compat', 'targets whose CPU lacks the source CPU features are not avoided'],
];

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
        // policy.policies replaces the default list: naming one policy to change its weight drops the others.
        const loaded = new Set(policies.map((p) => p.policy.name));
        for (const [name, what] of DEFAULT_POLICY_DUTIES) {
          if (!loaded.has(name))
            process.stdout.write(
              `note: policy ${name} is not enabled in policy.policies, so ${what}; list it to keep it (the list replaces the default one)\n`,
            );
        }
      }),
    );
}
