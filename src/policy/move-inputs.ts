/** What the cost model is told about one VM's move (shared by the engine's steps and callers that show a move's inputs). */
import type { VmObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';

/**
 * The guest memory a move must send, bytes. QEMU sends a page filled with one byte (a zero page)
 * as a header only (migration/ram.c save_zero_page; multifd's zero-page detection likewise), so
 * what travels is the memory that is not zero, not the configured size: a 192 MiB lab guest moves
 * 111-158 MiB by post-copy (oracle grid, 2026-12-07). Best known first:
 * - what libvirt counted when the VM last moved (`lastMoveNonzeroBytes`: memory_total less the
 *   memory_constant pages of that job), since a guest's touched memory changes slowly;
 * - else the QEMU process's resident set when smaller than the memory (pages never touched are
 *   neither resident nor sent; RSS also holds QEMU's own memory, so it is an upper bound);
 * - else the configured memory.
 * Never more than the configured memory.
 */
export function memoryToMoveBytes(memoryBytes: number, rssBytes?: number, lastMoveNonzeroBytes?: number): number {
  if (lastMoveNonzeroBytes !== undefined && lastMoveNonzeroBytes > 0) return Math.min(memoryBytes, lastMoveNonzeroBytes);
  return rssBytes !== undefined && rssBytes > 0 && rssBytes < memoryBytes ? rssBytes : memoryBytes;
}

/**
 * What the cost model is told about a VM's move: memory that must travel (memoryToMoveBytes), its
 * measured dirty rate (0 when unknown) and the bandwidth: what recent migrations over the same
 * pair of hosts achieved when known, else the policy's estimate; capped by the per-migration limit
 * when one is set. `linkMiBps` is that estimate before the cap: QEMU sends the stop-and-copy's
 * remainder uncapped (chooser.ts ChooserInput.linkMiBps).
 */
export function moveInputs(
  vm: VmObservation,
  config: PolicyConfig,
  bandwidthLimitMiBps?: number,
  measuredLinkMiBps?: number,
  lastMoveNonzeroBytes?: number,
): {
  memoryBytes: number;
  dirtyRateMiBps: number;
  bandwidthMiBps: number;
  linkMiBps: number;
  bandwidthMeasured: boolean;
  localDiskBytes: number;
  guestCpuShare?: number;
} {
  const bandwidthMeasured = measuredLinkMiBps !== undefined && measuredLinkMiBps > 0;
  const assumed = bandwidthMeasured ? measuredLinkMiBps : config.bandwidthMiBps;
  return {
    memoryBytes: memoryToMoveBytes(vm.memoryBytes, vm.rssBytes, lastMoveNonzeroBytes),
    dirtyRateMiBps: vm.dirtyRateMiBps ?? 0,
    bandwidthMiBps: bandwidthLimitMiBps ? Math.min(assumed, bandwidthLimitMiBps) : assumed,
    linkMiBps: assumed,
    bandwidthMeasured,
    localDiskBytes: vm.disksShared ? 0 : vm.localDiskBytes,
    ...(vm.cpuUtilization?.samples > 0 && Number.isFinite(vm.cpuUtilization.mean) ? { guestCpuShare: Math.min(1, Math.max(0, vm.cpuUtilization.mean)) } : {}),
  };
}
