/**
 * The one planning pipeline: observed state + decision history (journal) + link bandwidths and
 * calibration -> plan. `run` (the controller), `plan`, `drain` and `migrate` all plan through
 * here, so they see the same cooldowns, retry delays and measured links.
 */
import type { Collector } from '../cluster/collector.js';
import type { ClusterState } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import type { DecisionHistory } from '../history/index.js';
import { plan, planRequestedMove, type LoadedPolicy, type Move, type Plan, type PlanMemory, type PlanOptions, type Technique } from '../policy/index.js';
import { planMeasuringCandidates } from './plan-measured.js';

export interface PlanningInputs {
  config: Config;
  policies: LoadedPolicy[];
  history: DecisionHistory;
  /** Kept by a caller that plans every tick (spread hold). */
  memory?: PlanMemory;
  /** Override of policy.maxMovesPerTick (drain). */
  maxMoves?: number;
}

/** plan()'s options from the config, the policies and what history learned. */
export function planOptionsFor(inputs: PlanningInputs): PlanOptions {
  const { config } = inputs;
  return {
    policies: inputs.policies,
    config: config.policy,
    bandwidthLimitMiBps: config.migration.bandwidthMiBps,
    maxMoves: inputs.maxMoves,
    // A move that would wait for a budget does not take a maxMovesPerTick slot (engine.ts).
    admission: config.migration,
    memory: inputs.memory,
    ...inputs.history.planOptions(config.migration),
  };
}

/**
 * Plan on an observed state. With a collector, the dirty rates of the VMs about to move are
 * measured when older than `staleAfterMs` (0: always) and the plan made again on them.
 */
export async function planObserved(
  state: ClusterState,
  inputs: PlanningInputs,
  measure?: { collector: Collector; staleAfterMs: number },
): Promise<{ state: ClusterState; plan: Plan }> {
  const options = planOptionsFor(inputs);
  if (!measure) return { state, plan: await plan(state, options) };
  return planMeasuringCandidates(state, measure.collector, options, {
    measureSeconds: inputs.config.policy.dirtyRateMeasureSeconds,
    staleAfterMs: measure.staleAfterMs,
  });
}

/** The engine's move for an operator's request (policy/engine.ts planRequestedMove), with the same learned options. */
export async function planRequested(
  state: ClusterState,
  request: { vmUuid: string; to: string; reason: string; techniques?: readonly Technique[] },
  inputs: PlanningInputs,
): Promise<{ move: Move } | { refused: string; hardLimit?: boolean }> {
  return planRequestedMove(state, request, planOptionsFor(inputs));
}
