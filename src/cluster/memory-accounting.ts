/**
 * How much memory a host has and uses for guests, as operators count it:
 * - only domains that hold memory count (running, blocked, paused, pmsuspended, crashed: their QEMU
 *   process exists); a shut-off definition holds none, though libvirt reports its configured balloon size;
 * - hugepage pools are memory set aside for hugepage-backed guests: the kernel counts the whole
 *   pool as used (MemFree excludes it, free pages or not), so node stats would show a host with
 *   200 GiB of mostly free hugepages as 90 % used. The pools are taken out of both total and used;
 *   hugepage-backed VMs are counted against their pool's free pages instead.
 */
import { holdsMemory, KiB, MiB, type HugepagePool, type VmState } from './model.js';

export { holdsMemory };

/** Bytes a host's hugepage pools set aside (all pages, free or not). */
export function hugepagePoolBytes(pools: readonly HugepagePool[] | undefined): number {
  return (pools ?? []).reduce((sum, p) => sum + p.totalPages * p.pageSizeKiB * KiB, 0);
}

export interface HostMemoryInput {
  /** Host memory from node info, bytes. */
  nodeMemoryBytes: number;
  /** `capacity.memoryMiB` from config: memory offered to guests not backed by hugepages. */
  capacityMiB?: number;
  /** virNodeGetMemoryStats for all cells (total, free, buffers, cached; KiB), when the driver has them. */
  memStats?: Record<string, bigint>;
  /** The host's domains: state, current memory and hugepage backing. */
  vms: readonly { state: VmState; memoryBytes: number; hugepageSizeKiB?: number }[];
  hugepages?: readonly HugepagePool[];
}

/**
 * Ordinary (non-hugepage) memory a host offers guests and has in use, bytes. With a configured
 * capacity, or without node stats, used is the sum of the domains holding memory and not backed
 * by hugepages; otherwise node stats less page cache, buffers and the hugepage pools.
 */
export function hostMemory(input: HostMemoryInput): { memoryTotalBytes: number; memoryUsedBytes: number } {
  const poolBytes = hugepagePoolBytes(input.hugepages);
  if (input.capacityMiB !== undefined || !input.memStats) {
    const memoryUsedBytes = input.vms.filter((vm) => holdsMemory(vm.state) && vm.hugepageSizeKiB === undefined).reduce((sum, vm) => sum + vm.memoryBytes, 0);
    const memoryTotalBytes = input.capacityMiB !== undefined ? input.capacityMiB * MiB : Math.max(0, input.nodeMemoryBytes - poolBytes);
    return { memoryTotalBytes, memoryUsedBytes };
  }
  const kib = (k: string) => Number(input.memStats![k] ?? 0n) * KiB;
  return {
    memoryTotalBytes: Math.max(0, input.nodeMemoryBytes - poolBytes),
    memoryUsedBytes: Math.max(0, kib('total') - kib('free') - kib('buffers') - kib('cached') - poolBytes),
  };
}
