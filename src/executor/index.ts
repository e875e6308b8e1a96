/** The executor's public surface (the journal and what is learned from it: history/index.ts). */
export { Executor, type ConnectionSource } from './executor.js';
export { admit, MoveQueue, type AdmissionResult } from '../policy/scheduling.js';
export { watchAdoptedJob } from './adopt.js';
export { runMigration, recordResult, type MigrationResult, type MigrationProgress, type Outcome } from './migrate.js';
export { outcomeEntry, resultSummary } from './result.js';
export { recipeFor, migrationUriFor, type MigrationRecipe } from './technique-params.js';
export { runSingleMove } from './single-move.js';
export { runMigrationWithTls, tlsUnsupported, type MigrationTlsMode } from './migration-tls.js';
export { explainMigrationTlsError } from './tls-errors.js';
