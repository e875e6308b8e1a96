/** The executor's public surface. */
export { Executor, type ConnectionSource } from './executor.js';
export { admit, MoveQueue, type AdmissionResult } from '../policy/scheduling.js';
export {
  Journal,
  calibrationSamples,
  linkObservations,
  moveHistory,
  readJournal,
  readJournalHistory,
  unfinishedStarts,
  type JournalEntry,
  type MoveHistory,
  type UnfinishedStart,
} from '../history/journal.js';
export { watchAdoptedJob } from './adopt.js';
export { runMigration, recordResult, type MigrationResult, type MigrationProgress, type Outcome } from './migrate.js';
export { outcomeEntry } from './result.js';
export { recipeFor, migrationUriFor, type MigrationRecipe } from './technique-params.js';
export { runSingleMove } from './single-move.js';
export { LearnedFromMigrations } from '../history/learned.js';
export { runMigrationWithTls, tlsUnsupported, type MigrationTlsMode } from './migration-tls.js';
export { explainMigrationTlsError } from './tls-errors.js';
