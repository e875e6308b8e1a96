/**
 * The journal: every decision and outcome, append-only in <stateDir>/journal.jsonl, read back by
 * `virt-balancer history` and after a restart (cooldowns, recent moves). Three jobs, three modules:
 * entry types (journal-entries.ts), append and rotate (journal-writer.ts), read and replay
 * (journal-reader.ts); this module keeps the one import path for all of it.
 */
export * from './journal-entries.js';
export * from './journal-reader.js';
export * from './journal-writer.js';
