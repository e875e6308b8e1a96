/**
 * A move's cost in the objective's own unit (docs/policies.md "Objective and units").
 *
 * The objective J (objective.ts) is a sum of squared ratios: it does not change when every memory
 * size in the cluster is multiplied by 16, and a move's gain (J before minus J after) does not
 * either. Migration seconds do: a 128 GiB VM takes 16 times as long as an 8 GiB one. Charging
 * seconds against a ratio made the decision depend on host size (issue 24: on 256 GiB hosts idle
 * VMs stopped spreading 36 points apart, on 16 GiB hosts they moved for a point). So the cost is a
 * ratio too: the bytes the move sends (the cost model's prediction: memory, pages dirtied again,
 * local disks) as a share of its source host's memory (`hostCopies`: an idle VM's share of the
 * host's memory), times `policy.minGainPerHostCopy`. For a memory-only spread move of a VM holding
 * a share s of both hosts' memory, gain 2s(g - s) > k·s means: move when the two hosts are more
 * than s + k/2 apart. Fixed costs that do not scale with memory (set-up, switch-over) are left
 * out, so the same cluster with every memory size x16 or /16 makes the same moves; what a dirty
 * VM sends again depends on its dirty rate against the bandwidth, which do not scale.
 */
import { KiB, type HostObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';

/** A move's cost, with what it was computed from (for the plan's "not moved" lines). */
export interface MoveCost {
  /** In the objective's unit: minGainPerHostCopy x hostCopies. */
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
  return { cost: config.minGainPerHostCopy * hostCopies, bytes, hostBytes, hostCopies };
}

/** How a cost was reached, in words: "8.0 GiB = 3.1 % of kvm1's 256 GiB x minGainPerHostCopy 0.12 + spread margin 0.004". */
export function describeCost(c: MoveCost, source: string, config: PolicyConfig, margin: number): string {
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 10 * 2 ** 30 ? 1 : 0)} GiB`;
  return `sends ${gib(c.bytes)} = ${(c.hostCopies * 100).toFixed(1)} % of ${source}'s ${gib(c.hostBytes)} x minGainPerHostCopy ${config.minGainPerHostCopy}${margin > 0 ? ` + spread margin ${margin}` : ''}`;
}
