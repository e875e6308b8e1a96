/**
 * A move's cost in the objective's own unit (docs/policies.md "Objective and units").
 *
 * The objective J (objective.ts) is a sum of squared ratios: it does not change when every memory
 * size in the cluster is multiplied by 16, and a move's gain (J before minus J after) does not
 * either. Migration seconds do: a 128 GiB VM takes 16 times as long as an 8 GiB one. Charging
 * seconds against a ratio made the decision depend on host size (issue 24: on 256 GiB hosts idle
 * VMs stopped spreading 36 points apart, on 16 GiB hosts they moved for a point). So the cost is in
 * J's unit, squared ratios: the bytes the move sends (the cost model's prediction: memory, pages
 * dirtied again, local disks) as a share of its source host's memory (`hostCopies`: an idle VM's
 * share of the host's memory), squared, times the dimensionless `policy.moveCostWeight` k. For a
 * memory-only spread move of a VM holding a share s of two hosts g apart, gain 2s(g - s) > k·s²
 * means: move when the hosts are more than (1 + k/2)·s apart, 2.5 times the VM's share with the
 * default 3 (a move that would leave them less than half a VM apart is not worth its copy). A cost
 * linear in s (k·s) cannot tell a small VM closing a wide gap from a big VM closing a narrow one:
 * the demo's 192 MiB guests 14 points apart must move, a 16 GiB VM evening two 128 GiB hosts 25
 * points apart need not (test/unit/sim/gain-cost-units.test.ts). Fixed costs that do not scale with memory (set-up, switch-over) are left
 * out, so the same cluster with every memory size x16 or /16 makes the same moves; what a dirty
 * VM sends again depends on its dirty rate against the bandwidth, which do not scale.
 */
import { KiB, type HostObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';

/** A move's cost, with what it was computed from (for the plan's "not moved" lines). */
export interface MoveCost {
  /** In the objective's unit (squared ratios): moveCostWeight x hostCopies². */
  cost: number;
  /** Bytes the move sends (predicted). */
  bytes: number;
  /** The source host's memory, bytes (hostMemoryBytes). */
  hostBytes: number;
  /** bytes / hostBytes: the share of a copy of the whole host the move amounts to. */
  hostCopies: number;
}

/** All the memory a host has (ordinary memory offered to guests plus its hugepage pools), bytes. */
export function hostMemoryBytes(host: HostObservation): number {
  return host.memoryTotalBytes + (host.hugepages ?? []).reduce((sum, p) => sum + p.totalPages * p.pageSizeKiB * KiB, 0);
}

/**
 * The cost of a move sending `bytes` off `source`. A host whose memory is unknown (0) is charged
 * as if the move copied one whole host.
 */
export function moveCost(bytes: number, source: HostObservation, config: PolicyConfig): MoveCost {
  const hostBytes = hostMemoryBytes(source);
  const hostCopies = hostBytes > 0 ? bytes / hostBytes : 1;
  return { cost: config.moveCostWeight * hostCopies * hostCopies, bytes, hostBytes, hostCopies };
}

/** How a cost was reached, in words: "sends 8.0 GiB = 3.1 % of kvm1's 256 GiB, squared x moveCostWeight 3". */
export function describeCost(c: MoveCost, source: string, config: PolicyConfig, margin: number): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 10 * 2 ** 30 ? 1 : 0)} GiB`;
  return `sends ${gib(c.bytes)} = ${(c.hostCopies * 100).toFixed(1)} % of ${source}'s ${gib(c.hostBytes)}, squared x moveCostWeight ${config.moveCostWeight}${margin > 0 ? ` + spread margin ${margin}` : ''}`;
}

/**
 * A move's gain in words: "reduces the objective by 0.0313", or "would not reduce the objective
 * (0.0000)" / "raises the objective by 0.0120" (a negative gain said as "reduces by -x" read wrong).
 */
export function objectiveChange(gain: number): string {
  if (gain > 5e-5) return `reduces the objective by ${gain.toFixed(4)}`;
  if (gain < -5e-5) return `raises the objective by ${(-gain).toFixed(4)}`;
  return 'would not reduce the objective (0.0000)';
}
