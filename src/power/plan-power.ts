/**
 * One tick's power decisions, shared by the controller (power/manager.ts) and `plan`: the
 * power-offs (decide.ts), the wake (wake.ts), the holds, and how each would be carried out under
 * policy.automation.
 */
import type { ClusterState } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import type { Plan, PlanOptions } from '../policy/index.js';
import { choosePowerOffs, powerOffHolds, type PowerDecision } from './decide.js';
import type { PowerStates } from './states.js';
import { chooseWake } from './wake.js';

export interface PowerDecisions {
  decisions: PowerDecision[];
  /** Needs a power action would meet, held back (anti-flapping, no way to wake), and why. */
  held: { host: string; reason: string }[];
}

/** The power actions wanted now on a state marked with power states (decide.ts markPowerStates). */
export async function planPower(
  state: ClusterState,
  plan: Plan,
  states: PowerStates,
  config: Config,
  options: PlanOptions,
  nowMs: number,
): Promise<PowerDecisions> {
  const decisions = choosePowerOffs(state, plan, states, config, nowMs);
  const wake = await chooseWake(state, plan, states, config, options, nowMs);
  if (wake.wake) decisions.push(wake.wake);
  return { decisions, held: [...powerOffHolds(state, states, config, nowMs), ...(wake.held ? [wake.held] : [])] };
}

/**
 * Whether an action runs or is only recommended: a dry run and policy.automation manual only
 * recommend; partial runs wakes (capacity the plan needs) and recommends power-offs; full runs both.
 */
export function powerMode(d: PowerDecision, automation: Config['policy']['automation'], dryRun: boolean): 'run' | 'recommended' {
  return !dryRun && (automation === 'full' || (automation === 'partial' && d.action === 'power-on')) ? 'run' : 'recommended';
}
