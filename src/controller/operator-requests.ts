/**
 * The daemon carrying out an operator's request from the control socket (control-protocol.ts):
 * planned on its own fresh observation and history, run through its own executor, progress told
 * as it goes. One executor per cluster: its history, cooldowns, metrics and webhooks see every move.
 */
import type { Controller } from './controller.js';
import type { ControlEvent, ControlRequest } from './control-protocol.js';
import type { ControlHandler } from './control-server.js';
import { RequestRefused } from './errors.js';
import type { WorkflowContext } from './workflows/context.js';
import { approveRecommendations, chooseRecommendations } from './workflows/approve.js';
import { checkDrainHost, checkDrainPolicies } from './workflows/drain.js';
import { drainBesideTicks } from './workflows/drain-rounds.js';
import { carryOutMove, checkTargetHost, planMigration } from './workflows/migrate.js';

/** The control socket's handler for `controller`. */
export function operatorRequestHandler(controller: Controller): ControlHandler {
  return async (request: ControlRequest, send: (event: ControlEvent) => void) => {
    if (!controller.isLeader())
      throw new RequestRefused('not-leader', 'this controller is a standby (ha:): run the command on the machine of the leading controller');
    return controller.serveRequest((ctx) => serve(controller, ctx, request, send));
  };
}

/** One request, carried out with `ctx` (the policies, history and executor of when it came). */
async function serve(controller: Controller, ctx: WorkflowContext, request: ControlRequest, send: (event: ControlEvent) => void): Promise<unknown> {
  const progress = (kind: string, message: string, data?: unknown) => send({ type: 'progress', kind, message, ...(data === undefined ? {} : { data }) });
  switch (request.op) {
    case 'drain': {
      checkDrainHost(ctx.config, request.host);
      checkDrainPolicies(ctx.policies);
      if (controller.draining.has(request.host)) throw new RequestRefused('job-running', `host ${request.host} is already being drained`);
      controller.draining.add(request.host);
      try {
        // In rounds (drain-rounds.ts): a VM waiting for a make-room move follows in the next one.
        return await drainBesideTicks(ctx, request.host, {
          onPlanned: (planned, round) =>
            progress('planned', `${planned.plan.moves.length} move(s) planned off ${request.host}${round > 1 ? ` (round ${round})` : ''}`, {
              moves: planned.plan.moves.length,
              round,
            }),
          onWait: (vm, reason) => progress('waiting', `${vm}: waiting for a slot: ${reason}`),
          onStart: (m) => progress('started', `${m.vmName}: ${m.from} -> ${m.to} with ${m.technique}`),
          onResult: (r) => progress('ended', `${r.vm}: ${r.outcome} in ${(r.totalMs / 1000).toFixed(1)} s`),
        });
      } finally {
        controller.draining.delete(request.host);
      }
    }
    case 'migrate': {
      checkTargetHost(ctx.config, request.to, "the daemon's config");
      const planned = await planMigration(ctx, await ctx.observe(), request);
      progress('planned', `${planned.vm.name}: ${planned.vm.host} -> ${planned.move.to} with ${planned.move.technique}`, {
        vm: { name: planned.vm.name, host: planned.vm.host },
        move: planned.move,
      });
      let lastMs = 0;
      return carryOutMove(ctx, planned.move, (p) => {
        // At most one progress line a second on the socket.
        if (Date.now() - lastMs < 1000) return;
        lastMs = Date.now();
        progress('migration', `${p.percent.toFixed(0)}%`, p);
      });
    }
    case 'approve': {
      const chosen = await chooseRecommendations(
        controller.recommendations,
        ctx.journal,
        request.all ? { all: true, by: request.by } : { id: request.id!, by: request.by },
        ctx.config,
        request.configFile,
      );
      if (chosen.length === 0) return [];
      return approveRecommendations(ctx, controller.recommendations, chosen, request.by, await ctx.observe(), {
        onWait: (id, reason) => progress('waiting', `${id}: waiting for a slot: ${reason}`),
        onStart: (r) => progress('started', `${r.id}: ${r.move.vmName} ${r.move.from} -> ${r.move.to} with ${r.move.technique} (approved by ${request.by})`),
        onReport: (r) => progress('approval', r.id, r),
      });
    }
  }
}
