/**
 * Targets for one VM: the core filters first (cheap), then the objective's gain, then the
 * policies' filters and scores through the framework. `findTarget` is plan()'s search (policies
 * judge the best-gain targets a batch at a time); `evaluateTargets` judges every host and says why
 * each is accepted or refused (for `place` and for explaining a plan).
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import { estimateCost } from './candidates.js';
import { describeCost, objectiveChange } from './move-cost.js';
import { coreRefusal, type VmHistory } from './core-filters.js';
import { Planning, type PlanOptions } from './planning.js';
import type { ProjectedHost } from './api.js';
import type { Resource } from './objective.js';
import { moveDelta } from './projection.js';
import { UnorderableTarget } from './target-index.js';

/** Targets whose filters and scores are asked at once, best objective gain first (see findTarget). */
const TARGET_BATCH = 16;

export interface TargetChoice {
  host: HostObservation;
  /** Weighted mean of the policies' scores, 0..1. */
  score: number;
  /** Objective reduction of the move (objective.ts). */
  gain: number;
}

/** The core filters' input for `vm` onto `target`, with the target's projection as planned so far unless `projected` is given (a what-if). */
export function coreInput(planning: Planning, vm: VmObservation, target: HostObservation, mustMove: boolean, history: VmHistory, projected?: ProjectedHost) {
  return {
    vm,
    source: planning.index.hostsByName.get(vm.host),
    target,
    hosts: planning.state.hosts,
    projected: projected ?? planning.projection.host(target.name)!,
    mustMove,
    history,
    config: planning.config,
    nowMs: planning.nowMs,
    headroom: () => planning.headroomRefusal(vm, planning.index.hostsByName.get(vm.host), target),
  };
}

/**
 * The best target for a candidate: among hosts the core filters allow whose gain beats
 * `neededGain`, the best-scoring of the first batch (by gain) with a target the policies accept.
 * `skip` says why there is none, naming up to three refusals or the best gain that fell short.
 */
export async function findTarget(
  planning: Planning,
  vm: VmObservation,
  source: HostObservation,
  mustMove: boolean,
  needed: { gain: number; margin: number; only?: readonly Resource[] },
): Promise<{ target: TargetChoice } | { skip: string }> {
  // The index orders by the gain over every resource; a move judged on some resources only (a
  // spread move, h24b) is searched exhaustively.
  if (planning.options.targetSearch !== 'exhaustive' && needed.only === undefined) {
    const found = await findTargetIndexed(planning, vm, source, mustMove, needed.gain);
    if (found) return found;
  }
  return findTargetExhaustive(planning, vm, source, mustMove, needed);
}

/**
 * The indexed search: hosts in the exhaustive search's order (target-index.ts), each through the
 * core filters and the gain bar, judged by the policies in the same batches, so the same batch
 * decides and the same target wins. Undefined when it finds none (or the index cannot order this
 * VM): the exhaustive search then runs, for the same answer and its reasons, which name refusals
 * from every host.
 */
async function findTargetIndexed(
  planning: Planning,
  vm: VmObservation,
  source: HostObservation,
  mustMove: boolean,
  neededGain: number,
): Promise<{ target: TargetChoice } | { skip: string } | undefined> {
  const order = planning.config.goal === 'consolidate' && !mustMove ? 'fullest' : 'gain';
  const hosts = planning.targetIndex.ordered(vm, source, order);
  if (!hosts) return undefined;
  const history = planning.history.of(vm);
  let batch: { host: HostObservation; gain: number }[] = [];
  const judge = async (): Promise<{ target: TargetChoice } | { skip: string } | undefined> => {
    const feasible: TargetChoice[] = [];
    for (const { host, gain } of batch) {
      const verdict = await planning.framework.judge(vm, host, mustMove);
      if ('failed' in verdict) return { skip: POLICY_FAILED };
      if (verdict.accepted) feasible.push({ host, score: verdict.score, gain });
    }
    batch = [];
    return feasible.length > 0 ? { target: feasible.sort((a, b) => b.score - a.score || b.gain - a.gain)[0] } : undefined;
  };
  try {
    for (const open of hosts) {
      if (open.host.name === source.name) continue;
      // By gain, every later host gains no more: none of them can pass the bar.
      if (open.gain <= neededGain) {
        if (order === 'gain') break;
        continue;
      }
      if (coreRefusal(coreInput(planning, vm, open.host, mustMove, history))) continue;
      batch.push(open);
      if (batch.length === TARGET_BATCH) {
        const found = await judge();
        if (found) return found;
      }
    }
  } catch (error) {
    if (error instanceof UnorderableTarget) return undefined;
    throw error;
  }
  return batch.length > 0 ? judge() : undefined;
}

const POLICY_FAILED = 'a policy failed while judging it (see policy errors); no move depends on a failed policy';

/** Every host scored, sorted and judged: the reference search, and the one that explains a skip. */
async function findTargetExhaustive(
  planning: Planning,
  vm: VmObservation,
  source: HostObservation,
  mustMove: boolean,
  needed: { gain: number; margin: number; only?: readonly Resource[] },
): Promise<{ target: TargetChoice } | { skip: string }> {
  const { projection, framework } = planning;
  const history = planning.history.of(vm);
  const rejections: string[] = [];
  const open: { host: HostObservation; gain: number }[] = [];
  let bestLowGain: { host: HostObservation; gain: number } | undefined;
  for (const target of planning.state.hosts) {
    if (target.name === source.name) continue;
    const refused = coreRefusal(coreInput(planning, vm, target, mustMove, history));
    if (refused) {
      rejections.push(refused.reason);
      continue;
    }
    const delta = moveDelta(vm, source, target);
    // A spread move (judged on `only`) must not leave its target a spread source (relief.ts).
    if (needed.only !== undefined) {
      const spreadRefused = planning.relief.spreadTargetRefusal(
        target.name,
        {
          cpu: (projection.objective.ratio('cpu', target.name) ?? 0) + delta.toCpu,
          memory: (projection.objective.ratio('memory', target.name) ?? 0) + delta.toMemory,
        },
        needed.only,
      );
      if (spreadRefused) {
        rejections.push(spreadRefused);
        continue;
      }
    }
    const gain = projection.objective.gain(source.name, target.name, delta, needed.only);
    if (gain <= needed.gain) {
      if (!bestLowGain || gain > bestLowGain.gain) bestLowGain = { host: target, gain };
      continue;
    }
    open.push({ host: target, gain });
  }
  // Consolidating: the fullest targets first (the policies' filters keep them under the target
  // utilisation), so relief and packing fill running hosts before waking an empty one.
  if (planning.config.goal === 'consolidate' && !mustMove)
    open.sort((a, b) => projection.host(b.host.name)!.cpuRatioP90 - projection.host(a.host.name)!.cpuRatioP90);
  else open.sort((a, b) => b.gain - a.gain);

  // Policies judge the best-gain targets a batch at a time; the first batch with an accepted
  // target decides (asking every policy about every host costs too much at thousands of hosts).
  const feasible: TargetChoice[] = [];
  for (let at = 0; at < open.length && feasible.length === 0; at += TARGET_BATCH) {
    for (const { host, gain } of open.slice(at, at + TARGET_BATCH)) {
      const verdict = await framework.judge(vm, host, mustMove);
      if ('failed' in verdict) return { skip: POLICY_FAILED };
      if (verdict.accepted) feasible.push({ host, score: verdict.score, gain });
      else rejections.push(verdict.reason);
    }
  }
  if (feasible.length > 0) return { target: feasible.sort((a, b) => b.score - a.score || b.gain - a.gain)[0] };
  // Gain against cost, both in the objective's unit (move-cost.ts), wherever a target gains too little.
  const gainVsCost = (b: { host: HostObservation; gain: number }) =>
    `${b.host.name} ${objectiveChange(b.gain)}, not more than the cost ${needed.gain.toFixed(4)} (${describeCost(estimateCost(vm, source, planning), source.name, planning.config, needed.margin)})`;
  if (rejections.length === 0 && bestLowGain) return { skip: `best target ${gainVsCost(bestLowGain)}` };
  const shown = [...new Set(rejections)].slice(0, 3).join('; ');
  const more = rejections.length > 3 ? ` (+${rejections.length - 3} more)` : '';
  const lowGain = bestLowGain ? `; the other targets gain too little (best ${gainVsCost(bestLowGain)})` : '';
  return { skip: `no eligible target${mustMove ? ' within the hard limits' : ''}: ${shown || 'no other host'}${more}${lowGain}` };
}

/** One host's verdict for one VM (evaluateTargets). */
export interface TargetEvaluation {
  host: string;
  accepted: boolean;
  /** Who refused it: a core filter's name (core-filters.ts), a policy's name, or "policy-error". */
  refusedBy?: string;
  reason?: string;
  /** Weighted mean of the policies' scores (0..1), for accepted hosts. */
  score?: number;
  /** Objective reduction of moving the VM there (positive is better); undefined when the VM has no observed host. */
  gain?: number;
}

/**
 * Every host other than the VM's own, judged for it as a plan would judge it now (core filters,
 * then each policy's filter and scores; must-moves skip soft filters), accepted hosts first by
 * score then gain, refused ones in the state's order. For the `place` command and for explaining why a VM stays. The VM need not be
 * in `state` (a VM about to be placed); a VM with no observed host has no gain.
 */
export async function evaluateTargets(state: ClusterState, vm: VmObservation, options: PlanOptions & { mustMove?: boolean } = {}): Promise<TargetEvaluation[]> {
  // No plan memory: judging one VM must not advance the spread hold of the caller's next plan.
  const planning = new Planning(state, { ...options, memory: undefined });
  const mustMove = options.mustMove ?? false;
  const source = planning.index.hostsByName.get(vm.host);
  const history = planning.history.of(vm);
  const out: TargetEvaluation[] = [];
  for (const target of state.hosts) {
    if (target.name === vm.host) continue;
    const gain = source ? planning.projection.objective.gain(source.name, target.name, moveDelta(vm, source, target)) : undefined;
    const refused = coreRefusal(coreInput(planning, vm, target, mustMove, history));
    if (refused) {
      out.push({ host: target.name, accepted: false, refusedBy: refused.filter, reason: refused.reason, gain });
      continue;
    }
    const verdict = await planning.framework.judge(vm, target, mustMove);
    if ('failed' in verdict)
      out.push({ host: target.name, accepted: false, refusedBy: 'policy-error', reason: planning.framework.errors.at(-1)?.message ?? 'a policy failed', gain });
    else if (verdict.accepted) out.push({ host: target.name, accepted: true, score: verdict.score, gain });
    else out.push({ host: target.name, accepted: false, refusedBy: verdict.policy, reason: verdict.reason, gain });
  }
  // Accepted first, best score then gain; refused ones after, in the state's host order.
  return out.sort((a, b) => Number(b.accepted) - Number(a.accepted) || (a.accepted ? (b.score ?? 0) - (a.score ?? 0) || (b.gain ?? 0) - (a.gain ?? 0) : 0));
}
