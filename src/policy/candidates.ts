/**
 * Candidates between select and the search for a target: their order (must-moves as nominated,
 * the others by estimated objective gain per unit of cost, best first) and the engine's
 * reasons a candidate is not considered at all (move budget, config, a job running, cooldown,
 * VM-bound reasons, a libvirt state that cannot move).
 */
import { vmPriority } from './scheduling.js';
import type { HostObservation, VmObservation } from '../cluster/model.js';
import type { SelectedCandidate } from './framework.js';
import { moveCost, type MoveCost } from './move-cost.js';
import { moveInputs } from './move-inputs.js';
import type { Planning } from './planning.js';
import { moveDelta } from './projection.js';
import { vmBoundReason } from './vm-bound.js';
import { evacuationHold, vmOverrides, waitsForApproval } from './vm-overrides.js';

/** Targets tried when estimating a candidate's best gain per cost, to order candidates. */
const ESTIMATE_TARGETS = 8;

/** The cheapest estimate of moving the VM off `source` (memory and local disks sent once), in the objective's unit (move-cost.ts). */
export function estimateCost(vm: VmObservation, source: HostObservation, planning: Planning): MoveCost {
  const inputs = moveInputs(vm, planning.config, planning.options.bandwidthLimitMiBps, undefined, planning.options.nonzeroMemoryBytes?.(vm.uuid));
  return moveCost(inputs.memoryBytes + inputs.localDiskBytes, source, planning.config);
}

/**
 * Must-moves as nominated; the others by estimated gain per host copy (move-cost.ts) against the few
 * least-loaded hosts (cheap: no policy is asked), so the cheapest relief goes first.
 */
export function orderCandidates(candidates: readonly SelectedCandidate[], planning: Planning): SelectedCandidate[] {
  const { objective, counted } = planning.projection;
  const { cpuWeight, memoryWeight } = planning.config.objective;
  const loadKey = (h: HostObservation) => cpuWeight * (objective.ratio('cpu', h.name) ?? 0) + memoryWeight * (objective.ratio('memory', h.name) ?? 0);
  const lightest = [...counted].sort((a, b) => loadKey(a) - loadKey(b));
  const estimate = (vm: VmObservation): number => {
    const source = planning.index.hostsByName.get(vm.host);
    if (!source) return -Infinity;
    let best = -Infinity;
    let tried = 0;
    for (const target of lightest) {
      if (target.name === source.name) continue;
      best = Math.max(best, objective.gain(source.name, target.name, moveDelta(vm, source, target)));
      if (++tried >= ESTIMATE_TARGETS) break;
    }
    // Gain per unit of cost, both in the objective's unit: the same order at any host size.
    return best / Math.max(estimateCost(vm, source, planning).hostCopies, 1e-9);
  };
  // Must-moves by VM priority (the scheduler's order, scheduling.ts), so the per-tick move budget
  // keeps the VMs the operator ranked first; otherwise in the policies' order.
  const must = candidates
    .filter((c) => c.mustMove)
    .map((c, i) => ({ c, i, p: vmPriority(c.vm) }))
    .sort((a, b) => b.p - a.p || a.i - b.i)
    .map((x) => x.c);
  // A VM whose own automation makes its move wait for approval (where policy.automation would run
  // it) goes after those the controller may move itself: the plan counts a move as relief when it is
  // planned, so an unapproved one first would leave its host hot while a movable VM stays.
  const waitsOwn = (vm: VmObservation): boolean => {
    const own = vmOverrides(vm).automation;
    return own !== undefined && waitsForApproval(own, false) && !waitsForApproval(planning.config.automation, false);
  };
  const others = candidates.filter((c) => !c.mustMove && !c.pack).map((c) => ({ c, e: estimate(c.vm), w: waitsOwn(c.vm) }));
  others.sort((a, b) => Number(a.w) - Number(b.w) || b.e - a.e);
  // Packing moves last, in the order their policy nominated them (host by host), after relief.
  const packs = candidates.filter((c) => !c.mustMove && c.pack);
  return [...must, ...others.map((o) => o.c), ...packs];
}

/**
 * Why a VM in a state other than running is not moved (libvirt's domain states). libvirt 11.3 and
 * QEMU 10.0 would migrate a crashed or a pmsuspended domain, but the target then reports both as
 * running (the lab showed it: a panicked guest's vCPUs resume in its panic loop; a guest asleep in
 * S3 stays asleep while libvirt says "running (migrated)"), so the engine leaves them to the operator.
 */
function stateReason(vm: VmObservation, mustMove: boolean): string {
  if (!mustMove) return `not running (${vm.state}); only running VMs move to balance load`;
  switch (vm.state) {
    case 'crashed':
      return 'crashed: moving it would hide the crash (the target would report it running); destroy it (virsh destroy) so it is shut off and moves cold, or start it again so it moves live';
    case 'pmsuspended':
      return 'suspended by its guest (pmsuspended): moved, it would show running on the target while it sleeps; wake it (virsh dompmwakeup) and it moves live';
    default:
      return `in state ${vm.state}, which libvirt cannot migrate; it stays`;
  }
}

/**
 * How the VM can move given its libvirt state: running (and blocked, a running domain waiting on a
 * resource) live; paused live only when it must (it stays paused on the target); shut off cold
 * when it must. `refused` says why it cannot.
 */
export function howItMoves(vm: VmObservation, mustMove: boolean): { running: boolean; cold: boolean; refused?: string } {
  const running = vm.state === 'running' || vm.state === 'blocked';
  const live = running || (vm.state === 'paused' && mustMove);
  const cold = vm.state === 'shutoff' && mustMove;
  return { running, cold, refused: !live && !cold ? stateReason(vm, mustMove) : undefined };
}

/** Why the candidate is not considered this plan (checks in order, cheapest first), or undefined. */
export function candidateRefusal(c: SelectedCandidate, planning: Planning, planned: number, maxMoves: number): string | undefined {
  const { vm } = c;
  const mustMove = Boolean(c.mustMove);
  if (planned >= maxMoves) return `max moves per tick (${maxMoves}) reached; considered again next tick`;
  if (planning.config.ignoredVms.includes(vm.name)) return 'ignored by config (policy.ignoredVms)';
  if (planning.inFlightVms.has(vm.uuid) || vm.jobRunning) return 'a migration or other job is already running for it';
  // Off a host in maintenance every move is an evacuation, whichever policy asked (a rule repair too).
  const hold = planning.index.hostsByName.get(vm.host)?.maintenance ? evacuationHold(vm) : undefined;
  if (hold) return hold;
  const cooling = mustMove ? undefined : planning.history.cooldown(vm);
  if (cooling) return cooling;
  const bound = vmBoundReason(vm, planning.state, planning.nowMs);
  if (bound) return bound;
  const refused = howItMoves(vm, mustMove).refused;
  // A must-move its state holds back says why it should move (maintenance, which rule) and what to do.
  return refused && mustMove ? `${c.reason}; ${refused}` : refused;
}
