/** What the cost model is told about one VM's move (shared by the engine's steps and callers that show a move's inputs). */
import type { VmObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';

/**
 * What the cost model is told about a VM's move: memory that must travel (the resident set when
 * smaller: zero pages are not sent), its measured dirty rate (0 when unknown) and the bandwidth:
 * what recent migrations over the same pair of hosts achieved when known, else the policy's
 * estimate; capped by the per-migration limit when one is set.
 */
export function moveInputs(
  vm: VmObservation,
  config: PolicyConfig,
  bandwidthLimitMiBps?: number,
  measuredLinkMiBps?: number,
): { memoryBytes: number; dirtyRateMiBps: number; bandwidthMiBps: number; bandwidthMeasured: boolean; localDiskBytes: number } {
  const bandwidthMeasured = measuredLinkMiBps !== undefined && measuredLinkMiBps > 0;
  const assumed = bandwidthMeasured ? measuredLinkMiBps : config.bandwidthMiBps;
  return {
    memoryBytes: vm.rssBytes !== undefined && vm.rssBytes > 0 && vm.rssBytes < vm.memoryBytes ? vm.rssBytes : vm.memoryBytes,
    dirtyRateMiBps: vm.dirtyRateMiBps ?? 0,
    bandwidthMiBps: bandwidthLimitMiBps ? Math.min(assumed, bandwidthLimitMiBps) : assumed,
    bandwidthMeasured,
    localDiskBytes: vm.disksShared ? 0 : vm.localDiskBytes,
  };
}
