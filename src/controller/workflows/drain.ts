/**
 * Draining a host: every VM moved off it, as if it were in maintenance, with the planner's
 * placement and techniques and within the migration budgets (policy/scheduling.ts). Refusals come
 * as RequestRefused codes; what did not move comes with a typed reason, never text to match.
 */
import type { ClusterState } from '../../cluster/model.js';
import type { Config } from '../../config/index.js';
import type { MigrationResult } from '../../executor/index.js';
import type { LoadedPolicy, Move, Plan } from '../../policy/index.js';
import { RequestRefused } from '../errors.js';
import { planObserved } from '../pipeline.js';
import { whenAdmitted } from './approve.js';
import type { WorkflowContext } from './context.js';

/** @throws RequestRefused 'unknown-host' when `host` is not in the config. */
export function checkDrainHost(config: Config, host: string): void {
  if (!config.hosts.some((h) => h.name === host))
    throw new RequestRefused('unknown-host', `unknown host "${host}"; hosts: ${config.hosts.map((h) => h.name).join(', ')}`);
}

/** @throws RequestRefused 'maintenance-policy-disabled': a drain is the maintenance policy applied now. */
export function checkDrainPolicies(policies: readonly LoadedPolicy[]): void {
  if (!policies.some((p) => p.policy.name === 'maintenance'))
    throw new RequestRefused('maintenance-policy-disabled', 'the maintenance policy is disabled in policy.policies; drain needs it');
}

/** A drain's plan, on the state with the host marked in maintenance. */
export interface DrainPlan {
  host: string;
  drained: ClusterState;
  plan: Plan;
}

/**
 * Plan the drain of `host` on `state` (dirty rates of the moving VMs measured now), with no limit
 * on the number of moves. @throws RequestRefused 'unknown-host', 'host-down' (its VMs cannot move live).
 */
export async function planDrain(ctx: WorkflowContext, state: ClusterState, hostName: string): Promise<DrainPlan> {
  checkDrainHost(ctx.config, hostName);
  const host = state.hosts.find((h) => h.name === hostName);
  if (!host) throw new RequestRefused('unknown-host', `host ${hostName} was not observed`);
  if (!host.up) throw new RequestRefused('host-down', `host ${hostName} is down (${host.downReason}); its VMs cannot be migrated live`);
  const drained = { ...state, hosts: state.hosts.map((h) => (h.name === hostName ? { ...h, maintenance: true } : h)) };
  const { plan: whole } = await planObserved(
    drained,
    { config: ctx.config, policies: ctx.policies, history: ctx.history, maxMoves: 10_000, onlyFromHost: hostName },
    { collector: ctx.collector, staleAfterMs: 0 },
  );
  return { host: hostName, drained, plan: drainPart(whole, state, hostName) };
}

/**
 * What of a plan is the drain's: the moves off the host and the moves making room for its VMs,
 * and the skips of its own VMs. A balancing move elsewhere, or a VM elsewhere left alone (its
 * cooldown, a spread target gaining too little), is the ticks' business: it neither runs in a
 * drain nor holds it (a fresh user's roll stopped on two VMs of another host).
 */
export function drainPart(plan: Plan, state: ClusterState, hostName: string): Plan {
  const onHost = new Set(state.vms.filter((v) => v.host === hostName).map((v) => v.uuid));
  return {
    ...plan,
    moves: plan.moves.filter((m) => m.from === hostName || (m.makesRoomFor !== undefined && onHost.has(m.makesRoomFor))),
    skipped: plan.skipped.filter((s) => s.vmUuid !== undefined && onHost.has(s.vmUuid)),
  };
}

/**
 * Why a planned move of the drain did not run: `refused` (it cannot start as things are: a job of
 * the VM, a host down), `dropped` (queued, and could not start when its turn came), `no-slot`
 * (still queued behind a migration the drain did not start).
 */
export type NotMovedCode = 'refused' | 'dropped' | 'no-slot';

export interface DrainOutcome {
  host: string;
  plan: Plan;
  results: MigrationResult[];
  notMoved: { vm: string; code: NotMovedCode; reason: string }[];
  /** Every planned move completed and no VM was left behind. */
  ok: boolean;
}

/**
 * Run a drain's moves through the context's executor: what is over a budget waits in its queue
 * and starts the moment a running migration frees its slot (no waves). Resolves when all ended.
 */
export async function runDrain(ctx: WorkflowContext, planned: DrainPlan): Promise<DrainOutcome> {
  const { executor } = ctx;
  const before = executor.finished().length;
  const notMoved: DrainOutcome['notMoved'] = [];
  const { rejected } = executor.submit(planned.plan.moves, planned.drained);
  for (const r of rejected.filter((x) => !x.waits)) notMoved.push({ vm: r.move.vmName, code: 'refused', reason: r.reason });
  const droppedBefore = executor.dropped().length;
  await executor.whenIdle();
  for (const r of executor.dropped().slice(droppedBefore)) notMoved.push({ vm: r.move.vmName, code: 'dropped', reason: r.reason });
  for (const m of executor.queued())
    notMoved.push({ vm: m.vmName, code: 'no-slot', reason: 'still waiting for a slot (a migration this run did not start holds it)' });
  const mine = new Set(planned.plan.moves.map((m) => m.vmUuid));
  const results = executor
    .finished()
    .slice(before)
    .filter((r) => mine.has(r.vmUuid));
  const { plan } = planned;
  const ok = !results.some((r) => r.outcome !== 'completed') && plan.skipped.length === 0 && results.length >= plan.moves.length;
  return { host: planned.host, plan, results, notMoved, ok };
}

/**
 * Run a drain's moves beside the daemon's ticks: each move starts once admission (the budgets,
 * with every migration running now holding its slot) lets it, on a fresh observation, and runs
 * through the daemon's executor (runNow: the daemon's queue is its ticks' own). Resolves when all
 * ended. `onStart` and `onResult` tell each move as it goes.
 */
export async function runDrainBesideTicks(
  ctx: WorkflowContext,
  planned: DrainPlan,
  hooks: { onWait?: (vm: string, reason: string) => void; onStart?: (move: Move) => void; onResult?: (r: MigrationResult) => void } = {},
): Promise<DrainOutcome> {
  const notMoved: DrainOutcome['notMoved'] = [];
  const running: Promise<MigrationResult | undefined>[] = [];
  let state = planned.drained;
  for (const move of planned.plan.moves) {
    const slot = await whenAdmitted(move, state, ctx, (reason) => hooks.onWait?.(move.vmName, reason));
    state = slot.state;
    if (slot.refusal !== undefined) {
      notMoved.push({ vm: move.vmName, code: 'refused', reason: slot.refusal });
      continue;
    }
    hooks.onStart?.(move);
    const started = ctx.executor.runNow(move).then(
      (r) => {
        hooks.onResult?.(r);
        return r;
      },
      (error: Error) => {
        notMoved.push({ vm: move.vmName, code: 'dropped', reason: error.message });
        return undefined;
      },
    );
    running.push(started);
    // The next admission counts this one's slot: the executor holds it from now.
    state = { ...state, inFlight: ctx.executor.inFlight() };
  }
  const results = (await Promise.all(running)).filter((r): r is MigrationResult => r !== undefined);
  const { plan } = planned;
  const ok = !results.some((r) => r.outcome !== 'completed') && plan.skipped.length === 0 && results.length >= plan.moves.length;
  return { host: planned.host, plan, results, notMoved, ok };
}
