/** `virt-balancer check-config`: validate the config and load its policies; lists every problem at once. */
import type { Command } from 'commander';
import { ConfigError, type ConfigProblem, parseConfig, rawTlsFileInput, readConfigFile, resolveConfigPaths, tlsFileProblems } from '../../config/index.js';
import type { Config } from '../../config/index.js';
import { listenProblem } from '../../metrics/server.js';
import { CORE_FILTERS, loadPolicies } from '../../policy/index.js';
import { powerProgramProblems } from '../../power/program.js';
import { action } from '../errors.js';

/** The default policies whose absence changes what an operator relies on, and what stops happening. */
const DEFAULT_POLICY_DUTIES: [string, string][] = [
  ['maintenance', 'hosts in maintenance are not drained'],
  ['pin', 'policy.pinnedVms may be moved'],
  ['affinity', 'policy.affinityGroups are neither kept nor repaired'],
];

/**
 * Every problem of a config file that can be found without connecting: the schema and URI checks
 * (all of them, not only the first stage), metrics.listen, the TLS files it names and the power
 * commands' programs. Policies are
 * loaded only when the rest is valid (they read the validated config).
 */
export async function checkConfigFile(file: string): Promise<{ config?: Config; problems: ConfigProblem[] }> {
  const raw = await readConfigFile(file);
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = resolveConfigPaths(parseConfig(raw, file), file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const reported = new Set(problems.map((p) => p.path));
  const listen = (raw as { metrics?: { listen?: unknown } } | null)?.metrics?.listen;
  const badListen = typeof listen === 'string' && !reported.has('metrics.listen') ? listenProblem(listen) : undefined;
  if (badListen) problems.push({ path: 'metrics.listen', message: badListen.replace(/^metrics\.listen /, '') });
  problems.push(...(await tlsFileProblems(config ?? rawTlsFileInput(raw, file))).filter((p) => !reported.has(p.path)));
  // The programs only matter when an action runs them (action none with commands is refused above).
  const power: { action?: unknown } | undefined = config ? config.power : (raw as { power?: { action?: unknown } } | null)?.power;
  if (power?.action === 'command' || power?.action === 'node-suspend')
    problems.push(...(await powerProgramProblems(power)).filter((p) => !reported.has(p.path)));
  return { config: problems.length === 0 ? config : undefined, problems };
}

export function register(program: Command): void {
  program
    .command('check-config')
    .description('validate a config file and load the policies it names; lists every problem (exit 2 when invalid)')
    .requiredOption('-c, --config <file>', 'config file')
    .action(
      action(async (options: { config: string }) => {
        const { config, problems } = await checkConfigFile(options.config);
        if (!config) throw new ConfigError(options.config, problems);
        const policies = await loadPolicies(config.policy).catch((error: Error) => {
          throw new ConfigError(options.config, [{ path: 'policy', message: error.message }]);
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
