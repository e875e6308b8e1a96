/**
 * The one planning pipeline: observed state + decision history -> plan. History enters here and
 * only here, as one view (DecisionHistory.view: cooldowns, recent moves and failures, link
 * bandwidths, calibration); the collector's states carry none. `run` (the controller), `plan`,
 * `drain` and `migrate` all plan through here, so they see the same cooldowns, retry delays and
 * measured links; the states returned carry the history they were planned with (admission paces
 * by its measured durations).
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
  /** Plan only the candidates on this host (a drain: PlanOptions.onlyFromHost). */
  onlyFromHost?: string;
}

/** plan()'s options from the config and the policies (the history's come with its view). */
function configuredOptions(inputs: PlanningInputs): PlanOptions {
  const { config } = inputs;
  return {
    policies: inputs.policies,
    config: config.policy,
    bandwidthLimitMiBps: config.migration.bandwidthMiBps,
    maxMoves: inputs.maxMoves,
    onlyFromHost: inputs.onlyFromHost,
    // A move that would wait for a budget does not take a maxMovesPerTick slot (engine.ts).
    admission: config.migration,
    memory: inputs.memory,
  };
}

/** The door: `state` with the history's part, and plan()'s options with what history learned. */
export function planningView(state: ClusterState, inputs: PlanningInputs): { state: ClusterState; options: PlanOptions } {
  const view = inputs.history.view(state, inputs.config.migration);
  return { state: view.state, options: { ...configuredOptions(inputs), ...view.options } };
}

/** plan()'s options alone, for what-if plans (power decisions) on a state planningView returned. */
export function planOptionsFor(inputs: PlanningInputs): PlanOptions {
  return { ...configuredOptions(inputs), ...inputs.history.planOptions(inputs.config.migration) };
}

/**
 * Plan on an observed state. With a collector, the dirty rates of the VMs about to move are
 * measured when older than `staleAfterMs` (0: always) and the plan made again on them. The state
 * returned is the one planned on: with the history applied (and the measured rates).
 */
export async function planObserved(
  observed: ClusterState,
  inputs: PlanningInputs,
  measure?: { collector: Collector; staleAfterMs: number },
): Promise<{ state: ClusterState; plan: Plan }> {
  const { state, options } = planningView(observed, inputs);
  if (!measure) return { state, plan: await plan(state, options) };
  return planMeasuringCandidates(state, measure.collector, options, {
    measureSeconds: inputs.config.policy.dirtyRateMeasureSeconds,
    staleAfterMs: measure.staleAfterMs,
  });
}

/** The engine's move for an operator's request (policy/engine.ts planRequestedMove), through the same door. */
export async function planRequested(
  observed: ClusterState,
  request: { vmUuid: string; to: string; reason: string; techniques?: readonly Technique[] },
  inputs: PlanningInputs,
): Promise<{ move: Move } | { refused: string; hardLimit?: boolean }> {
  const { state, options } = planningView(observed, inputs);
  return planRequestedMove(state, request, options);
}
