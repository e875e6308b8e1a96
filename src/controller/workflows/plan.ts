/**
 * What the controller would do now, changing nothing: one collection with the journal's history
 * and power states, the plan (dirty rates measured fresh), and the power actions it would take.
 */
import type { ClusterState } from '../../cluster/model.js';
import type { Plan } from '../../policy/index.js';
import { operatorCommand } from '../../power/command.js';
import { markPowerStates } from '../../power/decide.js';
import type { PowerPlan } from '../../power/manager.js';
import { planPower, powerMode } from '../../power/plan-power.js';
import { PowerStates } from '../../power/states.js';
import { planObserved, planOptionsFor } from '../pipeline.js';
import type { Session } from '../session.js';

/**
 * Plan on a fresh observation. `measureDirtyRates` false: candidates are assumed idle (faster).
 * @throws RequestRefused 'state-dir' when the state directory is missing or untrusted.
 */
export async function planNow(session: Session, options: { measureDirtyRates: boolean }): Promise<{ state: ClusterState; plan: Plan; power: PowerPlan }> {
  const { config } = session;
  const policies = await session.policies();
  // The journal's history (cooldowns, recent moves and failures), so the plan is what run would do.
  await session.checkStateDir({ create: false });
  const history = await session.history();
  // Power states as the controller journaled them: standby hosts are shown so and never targets.
  const powerStates = new PowerStates(await session.planningEntries());
  const collected = await session.collect({ sampleIntervalMs: 2000, withHistory: true, expectedDown: new Set(powerStates.notAwake().keys()) });
  const state = markPowerStates(collected, powerStates);
  // Measured now, whatever was measured before: a dry run shows the choice on fresh rates.
  const inputs = { config, policies, history };
  const { plan, state: planned } = await planObserved(
    state,
    inputs,
    options.measureDirtyRates ? { collector: session.collector(), staleAfterMs: 0 } : undefined,
  );
  const decided = await planPower(planned, plan, powerStates, config, planOptionsFor(inputs), Date.now());
  const power: PowerPlan = {
    actions: decided.decisions.map((d) => {
      const mode = powerMode(d, config.policy.automation, config.loop.dryRun);
      const host = config.hosts.find((h) => h.name === d.host);
      const command = mode === 'recommended' && host ? operatorCommand(d.action, host, config.power) : undefined;
      return { ...d, mode, ...(command ? { command } : {}) };
    }),
    held: decided.held,
    hosts: [...powerStates.notAwake()].map(([host, p]) => ({ host, state: p.state, sinceMs: p.sinceMs })),
  };
  return { state, plan, power };
}
