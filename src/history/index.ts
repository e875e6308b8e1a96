/** Decision history: the journal and what planning learns from it (read by planning and execution). */
export {
  Journal,
  JournalError,
  calibrationSamples,
  linkObservations,
  moveHistory,
  readJournal,
  readJournalHistory,
  unfinishedStarts,
  type JournalEntry,
  type PowerJournalEntry,
  MAINTENANCE_STEPS,
  type MaintenanceJournalEntry,
  type MaintenanceStep,
  type MoveHistory,
  type UnfinishedStart,
} from './journal.js';
export { LearnedFromMigrations } from './learned.js';
export { DecisionHistory, type MoveOutcome } from './decision-history.js';
