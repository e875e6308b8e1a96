/**
 * The daemon's answers to the HTTP API (server.ts routes): every read on its own observation,
 * history, journal and recommendations store; `place` with place's judging (workflows/place.ts);
 * `approve` handed to the same operator-request handler as the control socket's, so the move runs
 * on the daemon's one executor and is journaled with who approved.
 */
import type { PolicyConfig } from '../../config/policy-schema.js';
import { closePolicies, loadPolicies } from '../../policy/index.js';
import type { Controller } from '../controller.js';
import { planJson, placeJson, recommendationJson, statusJson } from '../json-shapes.js';
import { operatorRequestHandler } from '../operator-requests.js';
import { planObserved } from '../pipeline.js';
import { judgeNewVm } from '../workflows/place.js';
import { openapiDocument } from './openapi.js';
import type { ApiBackend } from './server.js';

/** The backend of the daemon running `controller` from `configFile` (named in refusals' hints). */
export function daemonApiBackend(controller: Controller, configFile: string): ApiBackend {
  const requests = operatorRequestHandler(controller);
  return {
    status: async () => {
      const state = await controller.workflowContext().observe();
      return {
        role: controller.isLeader() ? 'leader' : 'standby',
        lastTickAt: controller.lastTickEndedAtMs === undefined ? null : new Date(controller.lastTickEndedAtMs).toISOString(),
        ...statusJson(state),
      };
    },
    // Through serveRequest, as the control socket's requests: a SIGHUP meanwhile closes the
    // policies these use only after they answered.
    plan: () =>
      controller.serveRequest(async (ctx) => {
        // A dry plan: no PlanMemory of the ticks is touched, nothing journaled, nothing run.
        const { state, plan } = await planObserved(await ctx.observe(), { config: ctx.config, policies: ctx.policies, history: ctx.history });
        return planJson(plan, state);
      }),
    recommendations: async (all) => (await controller.recommendations.list()).filter((r) => all || r.status === 'waiting').map(recommendationJson),
    history: async (limit) => (await controller.journal.read()).slice(-limit),
    place: (body) =>
      controller.serveRequest(async (ctx) => {
        const state = await ctx.observe();
        const loaded: Awaited<ReturnType<typeof loadPolicies>>[] = [];
        // The daemon's policies, unless the new VM's affinity group changes the policy section (then loaded for this answer).
        const policiesFor = async (policy: PolicyConfig) => {
          if (policy === ctx.config.policy) return ctx.policies;
          const own = await loadPolicies(policy);
          loaded.push(own);
          return own;
        };
        try {
          const verdicts = await judgeNewVm(state, { ...body, cpuRatio: body.cpuPercent / 100, requiredLabels: body.labels }, ctx.config.policy, policiesFor);
          return placeJson(verdicts);
        } finally {
          for (const own of loaded) await closePolicies(own);
        }
      }),
    approve: async (id, by) => {
      // The control socket's path: the daemon's executor, its history and cooldowns; journaled with `by`.
      // The control protocol bounds who to 256 characters (a long certificate subject is cut): the answer says what was journaled.
      const journaledBy = by.slice(0, 256);
      const reports = await requests({ op: 'approve', id, by: journaledBy, configFile }, () => {});
      return { by: journaledBy, reports };
    },
    openapi: () => openapiDocument(),
  };
}
