/**
 * A drain in rounds, the one loop every drain runs (the `drain` command, the daemon's drain
 * request, a maintenance roll's drain step): a VM that fits nowhere until a make-room move has run
 * (policy/make-room.ts) follows in the next round, planned on a fresh observation. How a round's
 * moves run is the caller's (the command's executor queue, or beside the daemon's ticks).
 */
import type { ClusterState } from '../../cluster/model.js';
import type { WorkflowContext } from './context.js';
import type { MigrationResult } from '../../executor/index.js';
import type { Move } from '../../policy/index.js';
import { type DrainOutcome, type DrainPlan, planDrain, runDrain, runDrainBesideTicks } from './drain.js';

/** Drain rounds at most: one for the make-room moves, one for the VMs that waited for them, one to spare. */
export const DRAIN_ROUNDS = 3;

/** Runs one round's planned moves and resolves when they ended: `runDrain` or `runDrainBesideTicks` (drain.ts). */
export type RunDrainRound = (planned: DrainPlan) => Promise<DrainOutcome>;

/**
 * Why VMs were left on the host: `cannot-place` (VMs the cluster cannot take, waiting for no
 * make-room move, or still waiting after DRAIN_ROUNDS rounds), `failed` (a move failed, or did not start).
 */
export type DrainStop = 'cannot-place' | 'failed';

/** Every round's moves, results and not-moved VMs; `plan` is the last round's with the moves and notices of all. */
export interface DrainRoundsOutcome extends DrainOutcome {
  rounds: number;
  /** Set when the drain ended with VMs left on the host; `ok` is false then. */
  stopped?: DrainStop;
}

export interface DrainRoundsOptions {
  /**
   * A round whose plan leaves a VM that waits for no make-room move runs nothing and stops
   * (`cannot-place`): a maintenance roll, whose host must end empty for its hook, does not move
   * the others for nothing. Otherwise (`drain`) the round moves what it can, and the drain ends not-ok.
   */
  stopAtUnplaceable?: boolean;
  /** Told each round's plan before its moves run (round from 1). */
  onPlanned?: (planned: DrainPlan, round: number) => void;
}

/**
 * Drain `hostName` in rounds from the observation `first`: plan (drain.ts `planDrain`), run the
 * round's moves with `run`, and while a planned make-room move had a VM wait for it, observe again
 * (`ctx.observe`) and plan the next round, at most DRAIN_ROUNDS. A round with a failed or unstarted
 * move is the last (`failed`). `ok` when every VM of the host left.
 * @throws RequestRefused as planDrain ('unknown-host', 'host-down').
 */
export async function drainInRounds(
  ctx: WorkflowContext,
  first: ClusterState,
  hostName: string,
  run: RunDrainRound,
  options: DrainRoundsOptions = {},
): Promise<DrainRoundsOutcome> {
  const moves: DrainPlan['plan']['moves'] = [];
  const notices = new Map<string, { source: string; message: string }>();
  const results: DrainOutcome['results'] = [];
  const notMoved: DrainOutcome['notMoved'] = [];
  let state = first;
  for (let round = 1; ; round++) {
    let planned = await planDrain(ctx, state, hostName);
    for (const n of planned.plan.notices ?? []) notices.set(`${n.source}\n${n.message}`, n);
    const end = (stopped?: DrainStop): DrainRoundsOutcome => ({
      host: hostName,
      plan: { ...planned.plan, moves: [...moves], notices: [...notices.values()] },
      results,
      notMoved,
      ok: stopped === undefined,
      rounds: round,
      ...(stopped ? { stopped } : {}),
    });
    const following = new Set(planned.plan.moves.flatMap((m) => (m.makesRoomFor ? [m.makesRoomFor] : [])));
    const stuck = planned.plan.skipped.filter((s) => !(s.vmUuid && following.has(s.vmUuid)));
    const lastRound = following.size > 0 && round >= DRAIN_ROUNDS;
    if ((lastRound || stuck.length > 0) && options.stopAtUnplaceable) return end('cannot-place');
    if (lastRound) {
      // No round is left for the followers: their make-room moves would free room for nothing; the others still go.
      planned = { ...planned, plan: { ...planned.plan, moves: planned.plan.moves.filter((m) => !m.makesRoomFor) } };
      following.clear();
    }
    // Told after the stop check: a round that stops before moving is not reported as planned.
    options.onPlanned?.(planned, round);
    const outcome = await run(planned);
    moves.push(...planned.plan.moves);
    results.push(...outcome.results);
    notMoved.push(...outcome.notMoved);
    if (outcome.notMoved.length > 0 || outcome.results.some((r) => r.outcome !== 'completed')) return end('failed');
    if (following.size === 0) return end(stuck.length > 0 || lastRound ? 'cannot-place' : undefined);
    state = await ctx.observe();
  }
}

/**
 * The one-shot `drain` command's drain: rounds through the context's executor queue (`runDrain`).
 * @throws RequestRefused as planDrain.
 */
export function drainNow(ctx: WorkflowContext, state: ClusterState, hostName: string): Promise<DrainRoundsOutcome> {
  return drainInRounds(ctx, state, hostName, (planned) => runDrain(ctx, planned));
}

/**
 * The daemon's drain request: rounds on its fresh observation, each move started beside its ticks
 * (`runDrainBesideTicks`); `onPlanned` told each round's plan. @throws RequestRefused as planDrain.
 */
export async function drainBesideTicks(
  ctx: WorkflowContext,
  hostName: string,
  hooks: {
    onPlanned?: (planned: DrainPlan, round: number) => void;
    onWait?: (vm: string, reason: string) => void;
    onStart?: (move: Move) => void;
    onResult?: (r: MigrationResult) => void;
  } = {},
): Promise<DrainRoundsOutcome> {
  return drainInRounds(ctx, await ctx.observe(), hostName, (planned) => runDrainBesideTicks(ctx, planned, hooks), { onPlanned: hooks.onPlanned });
}
