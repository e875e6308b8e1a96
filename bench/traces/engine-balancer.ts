/**
 * virt-balancer's own engine as a replay balancer: build the ClusterState, call plan(), turn its
 * moves into replay moves.
 */
// The built-in policies register themselves when imported (src/policy/registry.ts).
import '../../policies/index.js';
import { clusterStateFromView } from './cluster-state.js';
import type { TraceBenchInputs } from './inputs.js';
import type { Balancer, ReplayMove } from './replay.js';
import type { ClusterState } from '../../src/cluster/model.js';
import { policySchema } from '../../src/config/policy-schema.js';
import type { PlanMemory } from '../../src/policy/engine.js';
import { plan } from '../../src/policy/index.js';
import type { Plan } from '../../src/policy/plan-types.js';

export interface EngineLoad {
  /** Makes a fresh balancer (fresh move history) for each replayed day. */
  makeBalancer?: () => Balancer;
  /** The same engine with other policy settings (inputs.engine.variants), one balancer each. */
  variantBalancers?: (() => Balancer)[];
  note: string;
}

/** How to call the engine; `memory` is the balancer's own, kept across its ticks. */
export type PlanFunction = (state: ClusterState, memory: PlanMemory) => Plan | Promise<Plan>;

export function engineBalancer(
  planFn: PlanFunction,
  inputs: TraceBenchInputs,
  description: string,
  name = 'virt-balancer',
  only: { windowSamples?: number; scenarios?: readonly string[] } = {},
): Balancer {
  const recentMoves: ClusterState['recentMoves'] = [];
  // What the controller keeps between ticks (the spread hold), fresh for each replayed day.
  const memory: PlanMemory = { spreadHeldTicks: new Map() };
  return {
    name,
    description,
    scenarios: only.scenarios,
    async decide(view) {
      const state = clusterStateFromView(view, {
        windowSamples: only.windowSamples ?? inputs.windowSamples,
        cpuOvercommitRatio: inputs.engine.cpuOvercommitRatio,
        recentMoves: recentMoves.slice(-200),
      });
      const plan = await planFn(state, memory);
      if (plan.policyErrors.length > 0) {
        throw new Error(
          `policy errors: ${plan.policyErrors
            .slice(0, 3)
            .map((e) => `${e.policy}: ${e.message}`)
            .join('; ')}`,
        );
      }
      const hostIndex = new Map(view.hosts.map((h) => [h.name, h.index]));
      const vmIndex = new Map(view.vms.map((v) => [v.uuid, v.index]));
      const moves: ReplayMove[] = [];
      for (const move of plan.moves) {
        const vm = vmIndex.get(move.vmUuid);
        const to = hostIndex.get(move.to);
        if (vm === undefined || to === undefined) throw new Error(`plan named unknown VM ${move.vmUuid} or host ${move.to}`);
        moves.push({ vm, to, reason: move.reason });
        recentMoves.push({ vmUuid: move.vmUuid, from: move.from, to: move.to, atMs: view.nowMs });
      }
      return moves;
    },
  };
}

export async function loadEngineBalancer(inputs: TraceBenchInputs): Promise<EngineLoad> {
  const config = policySchema.parse(inputs.engine.policyConfig);
  const variants = (inputs.engine.variants ?? []).map((v) => ({ ...v, config: policySchema.parse({ ...inputs.engine.policyConfig, ...v.policyConfig }) }));
  return {
    makeBalancer: () =>
      engineBalancer(
        (state, memory) => plan(state, { config, memory }),
        inputs,
        `virt-balancer default policy (engine plan())${Object.keys(inputs.engine.policyConfig).length ? ` with ${JSON.stringify(inputs.engine.policyConfig)}` : ''}`,
      ),
    variantBalancers: variants.map(
      (v) => () =>
        engineBalancer(
          (state, memory) => plan(state, { config: v.config, memory }),
          inputs,
          `virt-balancer with ${JSON.stringify(v.policyConfig)}${v.windowSamples ? ` and a ${v.windowSamples}-sample window` : ''}${v.why ? `: ${v.why}` : ''}`,
          `virt-balancer+${v.name}`,
          {
            windowSamples: v.windowSamples,
            scenarios: v.scenarios,
          },
        ),
    ),
    note: `default policy via plan() from src/policy${variants.length ? `; variants: ${variants.map((v) => v.name).join(', ')}` : ''}`,
  };
}
