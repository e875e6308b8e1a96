/**
 * The planning engine: plan(state) -> Plan, touching no network, so the same code runs live, in
 * `plan` (dry-run), in the simulator, in benchmarks and in tests.
 *
 * plan() is the algorithm; its steps live beside it: planning.ts (one plan's working set),
 * projection.ts (indexed views and the projected loads a planned move updates), relief.ts
 * (hysteresis and spread), framework.ts (the policies' extension points, timeouts and errors),
 * candidates.ts (order and the engine's reasons to leave a VM alone), core-filters.ts (limits no
 * config switches off), targets.ts (the target search) and move-builder.ts (technique and cost).
 * The engine owns the objective (objective.ts), hysteresis, the spread tolerance and its hold,
 * cooldown, capacity and anti-ping-pong; policies own candidates, constraints and preferences.
 */
import type { ClusterState } from '../cluster/model.js';
import { candidateRefusal, estimateCost, howItMoves, orderCandidates } from './candidates.js';
import { hardLimitRefusal, placedMemoryRefusal } from './hard-limits.js';
import { makeRoom, type StuckMustMove } from './make-room.js';
import { buildMove } from './move-builder.js';
import type { Move, Plan, SkippedVm, Technique } from './plan-types.js';
import { Planning, type PlanOptions } from './planning.js';
import { BudgetLedger } from './scheduling.js';
import { findTarget } from './targets.js';
import { moveDelta } from './projection.js';
import type { HostObservation, VmObservation } from '../cluster/model.js';
import { overrideNotes, vmOverrides } from './vm-overrides.js';

/** The VM's share of its source host per resource (the spread margin scales with it). */
function shareOfSource(vm: VmObservation, source: HostObservation): { cpu: number; memory: number } {
  const d = moveDelta(vm, source, source);
  return { cpu: d.fromCpu, memory: d.fromMemory };
}

export { moveInputs } from './move-inputs.js';
export { newPlanMemory, spreadSettings, type PlanMemory, type SpreadSettings } from './relief.js';
export type { PlanOptions } from './planning.js';

/**
 * Plan this tick's moves (touches no network). Steps: project host load (migrations in flight
 * count as done); collect candidates from the policies' select (must-moves first, the others by
 * estimated objective gain per unit of cost, best first); for each, find the targets hard
 * limits allow (plus soft filters unless it is a must-move), take the best-scoring of the best-gain
 * targets, choose the technique, and keep the move when it is a must-move or its gain beats its
 * predicted cost. Policy failures become plan.policyErrors (timeouts also plan.timeouts), never
 * exceptions.
 */
export async function plan(state: ClusterState, options: PlanOptions = {}): Promise<Plan> {
  const planning = new Planning(state, options);
  const { config, projection, relief, framework, index } = planning;
  const maxMoves = options.maxMoves ?? config.maxMovesPerTick;
  const moves: Move[] = [];
  const skipped: SkippedVm[] = [];
  // Slots go to moves that can start now: one that would wait for a budget (its source already
  // sending, its target already receiving) is deferred, and planned — to be queued — only in the
  // slots the startable moves leave (a hot spot's relief must not wait ticks behind it).
  const ledger = options.admission ? new BudgetLedger([], state, options.admission) : undefined;
  const deferred: { candidate: (typeof selected)[number] }[] = [];
  const stuck: StuckMustMove[] = [];

  /** Plan `candidate` if it passes; `phase` 'deferred': its second look, after the startable moves. */
  const consider = async (candidate: (typeof selected)[number], phase: 'first' | 'deferred'): Promise<void> => {
    const { vm } = candidate;
    const mustMove = Boolean(candidate.mustMove);
    // A packing move (policy.goal consolidate) is judged by the policies, not by the objective's gain.
    const pack = !mustMove && Boolean(candidate.pack);
    const skip = (reason: string) => skipped.push({ vmName: vm.name, vmUuid: vm.uuid, reason });
    const refused = candidateRefusal(candidate, planning, moves.length, maxMoves);
    if (refused) return void skip(refused);
    const source = index.hostsByName.get(vm.host);
    if (!source) return;
    const hotRelief = relief.needsRelief(source.name);
    if (!mustMove && !pack && !hotRelief && !relief.needsSpreadRelief(source.name))
      return void skip(`host ${source.name} is no longer above the thresholds (less hysteresis) nor the spread tolerance after the moves planned before it`);
    // A spread move (the source is not hot) must also buy the margin.
    const margin = mustMove || pack || hotRelief ? 0 : relief.spreadMargin(source.name, shareOfSource(vm, source));
    const neededGain = mustMove || pack ? -Infinity : estimateCost(vm, source, planning).cost + margin;
    // A spread move is judged on the resources its source is out of tolerance in: spread in a
    // resource within its tolerance or under its floor (CPU below spread.minCpuPercent) buys no
    // move (issue 24: a host 12 points above the memory mean at 30 % CPU is not a CPU source).
    const only = mustMove || pack || hotRelief ? undefined : relief.spreadResources(source.name);
    const found = await findTarget(planning, vm, source, mustMove, { gain: neededGain, margin, only });
    if ('skip' in found) {
      // Evacuations only: a rule repair that fits nowhere is not worth moving a third VM for.
      if (mustMove && source.maintenance) stuck.push({ candidate, why: found.skip });
      return void skip(found.skip);
    }
    const { host: target, score, gain } = found.target;
    const built = await buildMove(planning, { vm, source, target, ...howItMoves(vm, mustMove), mustMove, pack, gain, margin, reason: '' });
    if ('skip' in built) return void skip(built.skip);
    const waits = ledger?.overBudget(built.move);
    if (waits !== undefined && phase === 'first') {
      deferred.push({ candidate });
      return;
    }
    if (waits === undefined) ledger?.take(built.move);
    // Commit to the projection so later candidates see this move.
    const objectiveWas = projection.objective.value();
    projection.apply(vm, source, target);
    built.move.reason = `${candidate.policy}: ${candidate.reason}; to ${target.name} (score ${score.toFixed(2)}, objective ${objectiveWas.toFixed(4)} -> ${projection.objective.value().toFixed(4)}, CPU imbalance ${planning.imbalanceBefore.toFixed(3)} -> ${projection.objective.cpuStdDev().toFixed(3)})${overrideNotes(vm, built.move, config.automation)}`;
    moves.push(built.move);
  };

  const all = await framework.select((c) => index.vmsByUuid.get(c.vm.uuid));
  const selected = options.onlyFromHost === undefined ? all : all.filter((c) => c.vm.host === options.onlyFromHost);
  for (const candidate of orderCandidates(selected, planning)) await consider(candidate, 'first');
  // The moves that would wait, in their order, in the slots left (their targets chosen seeing the startable moves).
  // Past the slots, each says "max moves per tick reached" (candidateRefusal), as when it was first looked at.
  for (const { candidate } of deferred) await consider(candidate, 'deferred');
  // VMs leaving hosts in maintenance that no host can take: one other VM moved to make room, else said (make-room.ts).
  if (stuck.length > 0) await makeRoom(planning, stuck, moves, maxMoves);
  // A cluster already below its failover headroom: said, since no move is refused for it then.
  const hostFailures = config.headroom.hostFailures;
  const headroomShort = hostFailures > 0 ? planning.headroomBefore : undefined;
  if (headroomShort) framework.notice('engine', `the cluster is below its failover headroom (policy.headroom.hostFailures ${hostFailures}): ${headroomShort}`);
  // Override tags with a value the engine does not know: said once per plan, never silently dropped.
  for (const vm of state.vms) if (vm.tags.length > 0) for (const problem of vmOverrides(vm).invalid) framework.notice('engine', problem);
  for (const w of relief.waiting()) skipped.push({ vmName: `(host ${w.host})`, reason: w.reason });
  // VMs that must leave their hosts with no host left to take them: said once, not only per VM.
  if (projection.counted.length === 0) {
    const leaving = state.hosts.filter((h) => h.up && (h.maintenance || h.power) && index.vmsOn(h.name).length > 0);
    if (leaving.length > 0)
      framework.notice(
        'engine',
        `every host is in maintenance, down or in standby: the VMs on ${leaving.map((h) => `${h.name} (${index.vmsOn(h.name).length})`).join(', ')} have no host to go to; take a host out of maintenance (hosts[].maintenance) or add one`,
      );
  }

  return {
    basedOnObservedAtMs: state.observedAtMs,
    moves,
    skipped,
    imbalanceBefore: planning.imbalanceBefore,
    imbalanceAfter: projection.objective.cpuStdDev(),
    objectiveBefore: planning.objectiveBefore,
    objectiveAfter: projection.objective.value(),
    notices: framework.notices,
    headroom: hostFailures > 0 ? { hostFailures, shortfall: headroomShort } : undefined,
    policyErrors: framework.errors,
    timeouts: framework.timeouts,
    policyTimings: framework.policyTimings(),
  };
}

/**
 * The engine's move for one VM an operator sends to a named host (`migrate`): the same technique
 * step as plan() (techniques its libvirt state allows, technique policies, both daemons' versions,
 * the cost model with measured link bandwidth and calibration), without the gain check or the
 * policies' filters (the operator chose the target) but within the hard limits (hard-limits.ts: a
 * target that cannot run the VM or hold its memory is refused), kept even when predicted not to converge (Move.predicted says
 * so). `techniques` replaces policy.allowedTechniques (an explicit
 * --technique). Returns the move, or why there is none.
 */
export async function planRequestedMove(
  state: ClusterState,
  request: { vmUuid: string; to: string; reason: string; techniques?: readonly Technique[] },
  options: PlanOptions = {},
): Promise<{ move: Move } | { refused: string; hardLimit?: boolean }> {
  // No plan memory: one requested move must not advance the spread hold of the next plan.
  const planning = new Planning(state, { ...options, memory: undefined });
  const vm = planning.index.vmsByUuid.get(request.vmUuid);
  const source = vm && planning.index.hostsByName.get(vm.host);
  const target = planning.index.hostsByName.get(request.to);
  if (!vm || !source) return { refused: `VM ${request.vmUuid} is not on any observed host` };
  if (!target) return { refused: `host ${request.to} is not in the cluster` };
  const how = howItMoves(vm, true);
  if (how.refused) return { refused: how.refused };
  // The operator chose the target, but not past what the host can run at all (hard-limits.ts).
  const hard =
    hardLimitRefusal(vm, source, target, state.hosts, planning.config.versionMonotonic) ??
    placedMemoryRefusal(vm, target, planning.projection.host(target.name)!);
  if (hard) return { refused: typeof hard === 'string' ? hard : hard.reason, hardLimit: true };
  const gain =
    planning.projection.objective.has(source.name) && planning.projection.objective.has(target.name)
      ? planning.projection.objective.gain(source.name, target.name, moveDelta(vm, source, target))
      : 0;
  const built = await buildMove(planning, {
    vm,
    source,
    target,
    ...how,
    mustMove: true,
    gain,
    margin: 0,
    reason: request.reason,
    techniques: request.techniques,
    evenIfNotConverging: true,
  });
  return 'skip' in built ? { refused: built.skip } : built;
}
