/** The policy engine's public surface. */
export { plan, planRequestedMove, moveInputs, newPlanMemory, spreadSettings, type PlanOptions, type PlanMemory, type SpreadSettings } from './engine.js';
export { Objective, type ObjectiveWeights, type MoveDelta } from './objective.js';
export {
  chooseTechnique,
  predictTechnique,
  DEFAULT_TUNABLES,
  type ChooserInput,
  type Choice,
  type TechniquePrediction,
  type ChooserTunables,
} from './chooser.js';
export { definePolicy, unknownOptionProblems, type Policy, type PolicyContext, type Candidate, type ProjectedHost } from './api.js';
export { loadPolicies, closePolicies, defaultPolicies, PolicyLoadError, type LoadedPolicy } from './loader.js';
export { registerBuiltinPolicy, builtinPolicies } from './registry.js';
export { CORE_FILTERS, type CoreFilter } from './core-filters.js';
export { evaluateTargets, type TargetEvaluation } from './targets.js';
export { moveIdentity, TECHNIQUES, type Technique, type Move, type Plan, type Prediction, type SkippedVm } from './plan-types.js';
export {
  admit,
  balancingPace,
  byPriority,
  moveCost,
  networkBudget,
  vmPriority,
  MoveQueue,
  type AdmissionResult,
  type AdmitOptions,
  type MoveCost,
  type NotAdmitted,
  type RunningMove,
} from './scheduling.js';
