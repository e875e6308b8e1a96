/**
 * Memory a VM takes where it goes, as the engine and the capacity and balance policies count it:
 * ordinary memory for an ordinary VM that holds memory, free hugepages of its size for a
 * hugepage-backed one (never both: a hugepage VM's pages are outside the host's ordinary memory).
 */
import { holdsMemory, KiB, type VmObservation } from '../cluster/model.js';
import type { ProjectedHost } from './api.js';

const active = (vm: VmObservation): boolean => holdsMemory(vm.state);

/** Ordinary (non-hugepage) memory the VM takes on a host, bytes: 0 when shut off or hugepage-backed. */
export function ordinaryMemoryBytes(vm: VmObservation): number {
  return active(vm) && vm.hugepageSizeKiB === undefined ? vm.memoryBytes : 0;
}

/**
 * Hugepages the VM needs on a host: its whole configured memory (a balloon frees no hugepages) in
 * pages of its size; undefined for an ordinary VM.
 */
export function hugepagesNeeded(vm: VmObservation): { pageSizeKiB: number; pages: number } | undefined {
  if (vm.hugepageSizeKiB === undefined) return undefined;
  const bytes = Math.max(vm.maxMemoryBytes, vm.memoryBytes);
  return { pageSizeKiB: vm.hugepageSizeKiB, pages: Math.ceil(bytes / (vm.hugepageSizeKiB * KiB)) };
}

/** Why `target` cannot take the VM's hugepages (unknown, no pool of that size, too few free), or undefined when it can. */
export function hugepageShortfall(vm: VmObservation, target: ProjectedHost): string | undefined {
  const need = hugepagesNeeded(vm);
  if (!need) return undefined;
  const name = target.host.name;
  if (!target.freeHugepages) return `free hugepages of ${name} are unknown (${vm.name} is backed by ${need.pageSizeKiB} KiB pages)`;
  const free = target.freeHugepages.get(need.pageSizeKiB);
  if (free === undefined) return `${name} has no ${need.pageSizeKiB} KiB hugepage pool (${vm.name} needs ${need.pages} pages)`;
  if (free < need.pages) return `${name} has ${free} free ${need.pageSizeKiB} KiB hugepages, ${vm.name} needs ${need.pages}`;
  return undefined;
}

/** Free hugepages by size from a host's pools (undefined when they are unknown). */
export function freeHugepagesOf(host: { hugepages?: { pageSizeKiB: number; freePages: number }[] }): Map<number, number> | undefined {
  return host.hugepages ? new Map(host.hugepages.map((p) => [p.pageSizeKiB, p.freePages])) : undefined;
}

/**
 * What a VM holds on its host, and so frees where it leaves and takes where it arrives: ordinary
 * memory (ordinaryMemoryBytes), or for a hugepage-backed VM that holds memory its pages
 * (hugepagesNeeded); a shut-off one holds neither.
 */
export function memoryHeld(vm: VmObservation): { ordinaryBytes: number; hugepages?: { pageSizeKiB: number; pages: number } } {
  const hugepages = active(vm) ? hugepagesNeeded(vm) : undefined;
  return { ordinaryBytes: ordinaryMemoryBytes(vm), ...(hugepages ? { hugepages } : {}) };
}

/** `pages` more (or fewer, negative) free pages of one size in `free` (a pool of that size only; unknown pools stay unknown). */
export function addFreeHugepages(free: Map<number, number> | undefined, pages: { pageSizeKiB: number; pages: number } | undefined, sign: 1 | -1): void {
  if (pages && free?.has(pages.pageSizeKiB)) free.set(pages.pageSizeKiB, free.get(pages.pageSizeKiB)! + sign * pages.pages);
}

/** Project a planned move's memory: ordinary memory or hugepages leave `source` and arrive on `target`. */
export function projectMemoryMove(vm: VmObservation, source: ProjectedHost, target: ProjectedHost): void {
  const held = memoryHeld(vm);
  source.memoryUsedBytes -= held.ordinaryBytes;
  target.memoryUsedBytes += held.ordinaryBytes;
  addFreeHugepages(source.freeHugepages, held.hugepages, 1);
  addFreeHugepages(target.freeHugepages, held.hugepages, -1);
}
