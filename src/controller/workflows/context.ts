/**
 * What an operator's workflow (drain, migrate, approve) runs on: the same parts whether a one-shot
 * command opened them (controller/session.ts) or the daemon lends its own, so the moves go through
 * one executor, journal and decision history.
 */
import type { Collector } from '../../cluster/collector.js';
import type { ClusterState } from '../../cluster/model.js';
import type { Config } from '../../config/index.js';
import type { Executor } from '../../executor/executor.js';
import type { DecisionHistory, Journal } from '../../history/index.js';
import type { Logger } from '../../log/logger.js';
import type { LoadedPolicy } from '../../policy/index.js';

export interface WorkflowContext {
  config: Config;
  logger: Logger;
  policies: LoadedPolicy[];
  /** Cooldowns, recent moves and failures, link bandwidths and calibration. */
  history: DecisionHistory;
  journal: Journal;
  /** Measures dirty rates; collects again. */
  collector: Collector;
  executor: Executor;
  /** A fresh observation carrying the history (cooldowns, recent moves and failures). */
  observe(): Promise<ClusterState>;
}
