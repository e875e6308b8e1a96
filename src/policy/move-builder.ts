/**
 * From a VM and its target to a Move: the techniques its libvirt state allows, narrowed by config,
 * the technique policies (through the framework) and both daemons' versions; the cost model's
 * choice with the measured link bandwidth and calibration; and, for a move that is not a
 * must-move, the check that its gain beats its predicted cost. plan() builds every move here, and
 * so does `migrate` for the one move an operator asks for.
 */
import type { HostObservation, VmObservation } from '../cluster/model.js';
import { techniquesFor } from './capabilities.js';
import { chooseTechnique } from './chooser.js';
import { describeCost, moveCost, objectiveChange } from './move-cost.js';
import { moveInputs } from './move-inputs.js';
import { isPrecopyFamily, PRECOPY_FAMILY, type Move, type Technique } from './plan-types.js';
import type { Planning } from './planning.js';
import { vmOverrides } from './vm-overrides.js';

export interface MoveRequest {
  vm: VmObservation;
  source: HostObservation;
  target: HostObservation;
  /** From the libvirt state (candidates.ts howItMoves). */
  running: boolean;
  cold: boolean;
  /** Must-moves (and operator moves) skip the gain-versus-cost check. */
  mustMove: boolean;
  /** Packing moves (policy.goal consolidate) skip it too: packing raises the spread the objective measures. */
  pack?: boolean;
  /** Objective reduction of the move, and the extra a spread move must buy. */
  gain: number;
  margin: number;
  /** Why it moves (Move.reason). */
  reason: string;
  /** Techniques to choose from instead of policy.allowedTechniques (an operator's explicit choice). */
  techniques?: readonly Technique[];
  /** Keep a move the cost model predicts will not converge (an operator's request: it is shown, and the executor's adaptation may still finish it). */
  evenIfNotConverging?: boolean;
}

/** The move, or why it cannot be made. The projection is not touched (plan() applies moves it keeps). */
export async function buildMove(planning: Planning, r: MoveRequest): Promise<{ move: Move } | { skip: string }> {
  const { config, options } = planning;
  const { vm, target, cold } = r;
  // A paused guest moves live but never by post-copy (post-copy needs the guest running on the
  // target to pull its pages); a shut-off one only cold.
  // The VM's own techniques (a per-VM override) replace the config's; an operator's explicit choice wins.
  const own = r.techniques ? undefined : vmOverrides(vm).techniques;
  const wanted = r.techniques ?? own ?? config.allowedTechniques;
  const source = own ? `the VM's techniques override (${own.join('+')})` : 'policy.allowedTechniques';
  const byState: readonly Technique[] = cold ? wanted.filter((t) => t === 'cold') : wanted.filter((t) => t !== 'cold' && (r.running || isPrecopyFamily(t)));
  // A paused VM whose allowed techniques are all post-copy ones: say what would move it.
  if (!cold && !r.running && byState.length === 0) {
    const where = r.techniques ? 'choose one' : `add one to ${source}`;
    return { skip: `paused: moves only by a pre-copy-family technique (${PRECOPY_FAMILY.join(', ')}); ${where}` };
  }
  const narrowed = await planning.framework.techniques(vm, byState, target);
  if (!narrowed) return { skip: 'a policy failed while choosing its technique (see policy errors)' };
  // Only what both daemons' versions support (an old libvirt refuses an unknown flag outright).
  const versionGate = techniquesFor(narrowed, r.source, target);
  const allowed = versionGate.usable;
  if (allowed.length === 0) {
    const why = versionGate.unusable.length > 0 ? `; ${versionGate.unusable.map((u) => u.reason).join('; ')}` : '';
    return {
      skip: (cold ? `shut off and cold migration is not allowed (${source})` : `no live technique allowed (${source} and technique policies)`) + why,
    };
  }
  const inputs = moveInputs(
    vm,
    config,
    options.bandwidthLimitMiBps,
    options.linkBandwidthMiBps?.(r.source.name, target.name),
    options.nonzeroMemoryBytes?.(vm.uuid),
  );
  const { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured } = inputs;
  const choice = chooseTechnique({
    ...inputs,
    downtimeBudgetMs: config.downtimeBudgetMs,
    allowed,
    running: !cold,
    calibration: options.calibration && ((t: Technique) => options.calibration!(r.source.name, target.name, t)),
    tunables: options.tunables,
  });
  if (!choice.predicted.converges && !r.evenIfNotConverging) {
    // A shut-off VM's only technique is refused for a reason of its own (local disks), not convergence.
    const own = cold ? choice.alternatives.find((a) => a.technique === 'cold')?.rejected : undefined;
    return {
      skip:
        own ??
        `no allowed technique (${allowed.join(', ')}) converges within the ${config.downtimeBudgetMs} ms downtime budget at ${dirtyRateMiBps.toFixed(0)} MiB/s dirty rate and ${bandwidthMiBps.toFixed(0)} MiB/s${bandwidthMeasured ? ` (measured ${r.source.name} -> ${target.name})` : ''}`,
    };
  }
  if (!r.mustMove && !r.pack) {
    // Gain and cost in one unit (move-cost.ts): the bytes sent as a share of the source host's memory.
    const cost = moveCost(choice.predicted.bytes, r.source, config);
    const needed = cost.cost + r.margin;
    if (r.gain <= needed) {
      return {
        skip: `best target ${target.name} ${objectiveChange(r.gain)}, not more than the cost ${needed.toFixed(4)} (${describeCost(cost, r.source.name, config, r.margin)})`,
      };
    }
  }
  return {
    move: {
      vmName: vm.name,
      vmUuid: vm.uuid,
      from: r.source.name,
      to: target.name,
      technique: choice.technique,
      copyStorage: !vm.disksShared,
      predicted: choice.predicted,
      reason: r.reason,
      gain: r.gain,
      mustMove: r.mustMove,
      inputs: { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured, downtimeBudgetMs: config.downtimeBudgetMs },
    },
  };
}
