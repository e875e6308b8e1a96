/** Moves the lab tests hand to the executor directly, without the planner. */
import type { Move, Prediction, Technique } from '../src/policy/plan-types.js';

/**
 * A move of `vm` from one lab host to another with the given technique. The prediction and the
 * inputs it assumed default to a one-second move; pass the chooser's where the deadline matters.
 */
export function labMove(
  vm: { name: string; uuid: string },
  from: string,
  to: string,
  technique: Technique,
  options: { predicted?: Prediction; inputs?: Move['inputs']; reason?: string } = {},
): Move {
  return {
    vmName: vm.name,
    vmUuid: vm.uuid,
    from,
    to,
    technique,
    copyStorage: false,
    predicted: options.predicted ?? { totalSeconds: 1, downtimeMs: 10, bytes: 1, converges: true },
    reason: options.reason ?? 'test',
    gain: 0,
    inputs: options.inputs ?? { memoryBytes: 0, dirtyRateMiBps: 0, bandwidthMiBps: 8, downtimeBudgetMs: 300 },
  };
}
