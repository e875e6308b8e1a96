export { configSchema, hostSchema, type Config, type HostConfig } from './schema.js';
export { policySchema, TECHNIQUE_NAMES, type PolicyConfig } from './policy-schema.js';
export { migrationSchema, type MigrationConfig } from './migration-schema.js';
export {
  ConfigError,
  describeIssue,
  loadConfig,
  parseConfig,
  readConfigFile,
  readYamlFile,
  resolveConfigPaths,
  formatPath,
  type ConfigProblem,
} from './load.js';
export { tlsFileProblems, rawTlsFileInput, type TlsFileInput } from './files.js';
export { isMigrationAddress, migrationUriForAddress, listenAddressFor } from './migration-address.js';
export { haSchema, type HaConfig } from './ha-schema.js';
