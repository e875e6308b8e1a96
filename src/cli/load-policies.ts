/** The config's policies loaded for a command, a policy that fails to load being a config error. */
import { type Config, ConfigError } from '../config/index.js';
import { type LoadedPolicy, loadPolicies } from '../policy/index.js';

/**
 * `loadPolicies(config.policy)`, with any failure (a missing or untrusted module, one that exports
 * no policy, throws while importing or does not finish in time, an unknown name) reported as a
 * problem of the config file's `policy` section: a ConfigError, so every command that loads
 * policies (`check-config`, `simulate`) exits with the config-error status (2) for it.
 * @throws ConfigError naming `file` and the policy's problem.
 */
export async function loadConfiguredPolicies(config: Config, file: string): Promise<LoadedPolicy[]> {
  try {
    return await loadPolicies(config.policy);
  } catch (error) {
    throw new ConfigError(file, [{ path: 'policy', message: (error as Error).message }]);
  }
}
