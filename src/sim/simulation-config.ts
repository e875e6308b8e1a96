/** The config `simulate` plans with: its policy and migration sections, the hosts from the scenario. */
import { ConfigError, type Config, describeIssue, formatPath, parseConfig, readConfigFile, resolveConfigPaths } from '../config/index.js';
import { powerSchema } from '../config/power-schema.js';

/**
 * The config as `simulate` reads it: the hosts come from the scenario and power actions are not
 * simulated, so the power section is checked on its own, not against the config's hosts (with one
 * host entry, power.minAwakeHosts would refuse a config whose scenario has many). A config without
 * `hosts:` (a policy section alone, as docs/policies.md shows) is read with the scenario's hosts,
 * `scenarioHosts`, in their place: they are the cluster `simulate` plans for, and the checks that
 * name hosts (policy.maintenanceHosts...) are made against them. Throws ConfigError.
 */
export async function loadSimulationConfig(file: string, scenarioHosts: readonly { name: string }[] = []): Promise<Config> {
  const raw = await readConfigFile(file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return resolveConfigPaths(parseConfig(raw, file), file);
  const { power, ...rest } = raw as Record<string, unknown>;
  // Never connected to (simulate builds its cluster from the scenario); one daemon each, as the
  // config checks ask, under the reserved .invalid domain.
  if (rest.hosts === undefined && scenarioHosts.length > 0)
    rest.hosts = scenarioHosts.map((h, i) => ({ name: h.name, uri: `qemu+tcp://scenario-host-${i + 1}.invalid/system` }));
  const checked = powerSchema.safeParse(power ?? {}, { reportInput: true });
  let config: Config | undefined;
  const problems = checked.success ? [] : checked.error.issues.map((issue) => ({ path: formatPath(['power', ...issue.path]), message: describeIssue(issue) }));
  try {
    config = resolveConfigPaths(parseConfig(rest, file), file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.unshift(...error.problems);
  }
  if (problems.length > 0 || !config || !checked.success) throw new ConfigError(file, problems);
  return { ...config, power: checked.data };
}
