/**
 * Approval of recommended moves (policy.automation manual or partial): each is judged again on the
 * state observed now, with the decision history (a VM moved since is in its cooldown; a target
 * it failed to reach lately or just left is refused, as the planner would), then run within the
 * migration budgets. Every decision is resolved in the store and journaled: who, when, outcome.
 */
import type { ClusterState } from '../../cluster/model.js';
import type { Config } from '../../config/index.js';
import type { MigrationConfig } from '../../config/migration-schema.js';
import { whatChanged } from '../../executor/approval.js';
import type { MigrationResult } from '../../executor/index.js';
import type { RecommendationStore, RecommendationView } from '../../executor/recommendations.js';
import type { Journal } from '../../history/index.js';
import { admit, moveIdentity, type Move } from '../../policy/index.js';
import { RequestRefused } from '../errors.js';
import type { WorkflowContext } from './context.js';

/**
 * Wait until admission (policy/scheduling.ts, the budgets `run` applies) lets `move` start beside
 * the jobs the hosts show, observing again (`ctx.observe`) every poll: over a budget it waits, never fails.
 * Returns the state it was admitted on, or why it cannot start (a host down, a job of the VM).
 */
export async function whenAdmitted(
  move: Move,
  first: ClusterState,
  ctx: { observe(): Promise<ClusterState>; config: { migration: MigrationConfig } },
  onWait: (reason: string) => void,
): Promise<{ state: ClusterState; refusal?: string }> {
  const config = ctx.config.migration;
  let state = first;
  let said = '';
  for (;;) {
    const { admitted, rejected } = admit([move], [], state, config);
    if (admitted.length > 0) return { state };
    if (!rejected[0].waits) return { state, refusal: rejected[0].reason };
    if (rejected[0].reason !== said) onWait(rejected[0].reason);
    said = rejected[0].reason;
    await new Promise((r) => setTimeout(r, config.pollIntervalMs));
    state = await ctx.observe();
  }
}

/**
 * How one approval ended: `executed` (ran; `outcome` says how), `stale` (refused for good: what
 * changed since it was recommended), `host-unreachable` and `cannot-start` (not checked or not
 * started; it stays waiting, to approve again).
 */
export type ApprovalCode = 'executed' | 'stale' | 'host-unreachable' | 'cannot-start';

export interface ApprovalReport {
  id: string;
  vm: string;
  from: string;
  to: string;
  code: ApprovalCode;
  /** executed: the migration's outcome. */
  outcome?: MigrationResult['outcome'];
  detail?: string;
  incident?: string;
}

/** What the operator asked: one recommendation by id, or every waiting one. */
export type ApproveRequest = { id: string; by: string } | { all: true; by: string };

/**
 * The recommendations to approve, oldest first. A named one that is not waiting is refused (and
 * the refusal journaled). @throws RequestRefused 'recommendation-not-found' / 'recommendation-not-waiting'.
 */
export async function chooseRecommendations(
  store: RecommendationStore,
  journal: Journal,
  request: ApproveRequest,
  config: Config,
  configFile: string,
): Promise<RecommendationView[]> {
  const all = await store.list();
  if ('all' in request) return all.filter((r) => r.status === 'waiting');
  const found = all.find((r) => r.id === request.id);
  if (!found)
    throw new RequestRefused(
      'recommendation-not-found',
      `no recommendation "${request.id}" in ${store.file}; \`virt-balancer recommendations -c ${configFile}\` lists the waiting ones`,
    );
  if (found.status === 'waiting') return [found];
  const detail =
    found.status === 'expired'
      ? `it expired at ${new Date(found.expiresAtMs).toISOString()} (policy.recommendationExpirySeconds ${config.policy.recommendationExpirySeconds}); the controller recommends the move again if it is still wanted`
      : `it is already ${found.status}${found.resolution?.detail ? ` (${found.resolution.detail})` : ''}`;
  await journal.append({ type: 'approval', atMs: Date.now(), id: found.id, by: request.by, ...moveIdentity(found.move), decision: 'refused', detail });
  throw new RequestRefused(
    'recommendation-not-waiting',
    `recommendation ${found.id} (${found.move.vmName} ${found.move.from} -> ${found.move.to}) not executed: ${detail}`,
  );
}

/** Told as the approvals go: a slot waited for, a move started, each approval's end. */
export interface ApproveHooks {
  onWait?: (id: string, reason: string) => void;
  onStart?: (r: RecommendationView) => void;
  onReport?: (report: ApprovalReport) => void;
}

/** Why `r` cannot be judged on `state` (a host did not answer), or undefined. */
function unanswered(r: RecommendationView, state: ClusterState): string | undefined {
  const { move } = r;
  const unreachable = [move.from, move.to].map((name) => state.hosts.find((h) => h.name === name)).find((h) => !h?.up);
  if (unreachable === undefined && state.hosts.some((h) => h.name === move.from)) return undefined;
  const name = unreachable?.name ?? move.from;
  return `${name} did not answer${unreachable?.downReason ? ` (${unreachable.downReason})` : ''}; ${r.id} stays waiting: approve it again once ${name} answers`;
}

/** Recommendations being approved in this process now (their ids): a second approval of one is refused. */
const approving = new Set<string>();

/**
 * Judge and run `chosen` in order, each on a fresh observation (the moves before it changed the
 * hosts) carrying the decision history; `first` is the observation for the first one. A move
 * the history forbids now (the VM moved since, so it is in its cooldown) is refused as stale.
 */
export async function approveRecommendations(
  ctx: WorkflowContext,
  store: RecommendationStore,
  chosen: readonly RecommendationView[],
  by: string,
  first: ClusterState,
  hooks: ApproveHooks = {},
): Promise<ApprovalReport[]> {
  const reports: ApprovalReport[] = [];
  const report = (r: RecommendationView, code: ApprovalCode, extra: Partial<ApprovalReport> = {}) => {
    const one: ApprovalReport = { id: r.id, vm: r.move.vmName, from: r.move.from, to: r.move.to, code, ...extra };
    reports.push(one);
    hooks.onReport?.(one);
  };
  // A decision for good: resolved in the store and journaled (who, when, what).
  const decide = async (r: RecommendationView, decision: 'refused' | 'executed', detail: string, outcome?: string) => {
    await store.resolve(r.id, { status: decision, atMs: Date.now(), by, detail });
    await ctx.journal.append({ type: 'approval', atMs: Date.now(), id: r.id, by, ...moveIdentity(r.move), decision, outcome, detail });
  };
  // Judged with the history whatever `first` carried: cooldowns, recent failures, ping-pong.
  let state: ClusterState = { ...first, ...ctx.history.forState() };
  for (const [index, r] of chosen.entries()) {
    // Approved twice at once (two API calls, a command beside the API): the second finds the
    // recommendation claimed by the first, whether its migration waits for a slot or runs.
    if (approving.has(r.id)) {
      report(r, 'cannot-start', {
        detail: `${r.id} is being approved already (its migration of ${r.move.vmName} waits for a slot or runs); nothing more is done`,
      });
      continue;
    }
    approving.add(r.id);
    try {
      if (index > 0) state = await ctx.observe();
      const why = unanswered(r, state);
      if (why !== undefined) {
        report(r, 'host-unreachable', { detail: why });
        continue;
      }
      const changes = await whatChanged(r, state, { policies: ctx.policies, config: ctx.config.policy });
      if (changes.length > 0) {
        const detail = `stale: ${changes.join('; ')}`;
        await decide(r, 'refused', detail);
        report(r, 'stale', { detail });
        continue;
      }
      // Within the budgets run applies: migrations running now (the controller's, anyone's) hold their slots.
      const slot = await whenAdmitted(r.move, state, ctx, (reason) => hooks.onWait?.(r.id, reason));
      state = slot.state;
      if (slot.refusal !== undefined) {
        report(r, 'cannot-start', { detail: `${slot.refusal}; ${r.id} stays waiting: approve it again once it can start` });
        continue;
      }
      hooks.onStart?.(r);
      const result = await ctx.executor.runNow(r.move);
      const detail = result.error
        ? `${result.outcome}: ${result.error}`
        : `${result.outcome} in ${(result.totalMs / 1000).toFixed(2)} s, downtime ${result.downtimeMs ?? '?'} ms`;
      await decide(r, 'executed', detail, result.outcome);
      report(r, 'executed', { outcome: result.outcome, detail, ...(result.incident ? { incident: result.incident } : {}) });
    } finally {
      approving.delete(r.id);
    }
  }
  return reports;
}
