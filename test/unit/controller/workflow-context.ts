/**
 * A WorkflowContext for workflow unit tests: the config's policies loaded, a fresh decision
 * history, a journal that is never written, no dirty-rate measurement, and the given executor
 * fake and observation.
 */
import type { Collector } from '../../../src/cluster/collector.js';
import type { ClusterState } from '../../../src/cluster/model.js';
import type { Config } from '../../../src/config/index.js';
import type { WorkflowContext } from '../../../src/controller/workflows/context.js';
import type { Executor } from '../../../src/executor/executor.js';
import { DecisionHistory, Journal } from '../../../src/history/index.js';
import { createLogger } from '../../../src/log/logger.js';
import '../../../policies/index.js';
import { loadPolicies } from '../../../src/policy/index.js';

export async function testWorkflowContext(config: Config, executor: Partial<Executor> | object, observe: () => ClusterState): Promise<WorkflowContext> {
  return {
    config,
    logger: createLogger({ level: 'silent' }),
    policies: await loadPolicies(config.policy),
    history: new DecisionHistory(),
    journal: new Journal('/nonexistent-never-written'),
    collector: { measureDirtyRates: async () => new Map() } as unknown as Collector,
    executor: executor as unknown as Executor,
    observe: async () => observe(),
  };
}
