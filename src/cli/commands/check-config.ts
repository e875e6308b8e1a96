/** `virt-balancer check-config`: validate the config and load its policies; lists every problem at once. */
import type { Command } from 'commander';
import { ConfigError } from '../../config/index.js';
import { nextRuns } from '../../controller/schedule.js';
import { checkConfigFile, DEFAULT_POLICY_DUTIES, unmeetableRules } from '../../controller/workflows/check-config.js';
import { CORE_FILTERS } from '../../policy/index.js';
import { loadConfiguredPolicies } from '../load-policies.js';
import { action } from '../errors.js';
import { formatRun } from '../format-check-config.js';
import { out } from '../output.js';

export function register(program: Command): void {
  program
    .command('check-config')
    .description('validate a config file and load the policies it names; lists every problem (exit 2 when invalid)')
    .requiredOption('-c, --config <file>', 'config file')
    .action(
      action(async (options: { config: string }) => {
        const { config, problems } = await checkConfigFile(options.config);
        if (!config) throw new ConfigError(options.config, problems);
        const policies = await loadConfiguredPolicies(config, options.config);
        const unmeetable = unmeetableRules(config);
        out(
          `${options.config}: ${unmeetable.length > 0 ? 'valid, but a rule cannot be met' : 'OK'} (${config.hosts.length} hosts; policies ${policies.map((p) => p.policy.name).join(', ')}; core filters ${CORE_FILTERS.map((f) => f.name).join(', ')})\n`,
        );
        for (const w of unmeetable) out(`warning: ${w}\n`);
        // When ticks run, in loop.timezone and UTC: a schedule's hours mean nothing without its zone.
        const runs = nextRuns(config.loop.schedule, config.loop.timezone, 3);
        const zone = config.loop.timezone === 'local' ? `local (${Intl.DateTimeFormat().resolvedOptions().timeZone})` : config.loop.timezone;
        out(`schedule: "${config.loop.schedule}" in ${zone}; next runs: ${runs.map((d) => formatRun(d, config.loop.timezone)).join(', ')}\n`);
        // policy.policies replaces the default list: naming one policy to change its weight drops the others.
        const loaded = new Set(policies.map((p) => p.policy.name));
        for (const [name, what] of DEFAULT_POLICY_DUTIES) {
          if (!loaded.has(name))
            out(`note: policy ${name} is not enabled in policy.policies, so ${what}; list it to keep it (the list replaces the default one)\n`);
        }
      }),
    );
}
