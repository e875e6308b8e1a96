/** Small questions asked of one host about one VM, shared by the migration watch and adoption. */
import {
  DomainState,
  domainStateName,
  JobStatsFlags,
  LibvirtError,
  typedParamNumber as num,
  type LibvirtConnection,
  type TypedParams,
} from '../libvirt/index.js';

export { num };

export { setTimeout as sleep } from 'node:timers/promises';

export const isNoDomain = (error: unknown): boolean => error instanceof LibvirtError && error.codeName === 'VIR_ERR_NO_DOMAIN';

/** The stats of the last completed job the host keeps for the VM (a destination keeps its migration's). */
export async function completedJobParams(conn: LibvirtConnection, uuid: string): Promise<TypedParams | undefined> {
  const dom = await conn.domainLookupByUuid(uuid).catch(() => undefined);
  return dom && (await conn.domainGetJobStats(dom, JobStatsFlags.COMPLETED).catch(() => undefined))?.params;
}

/** A completed migration's real figures from its job stats; elapsed time falls back to our own clock. */
export function completedJobFigures(
  p: TypedParams,
  fallbackTotalMs: number,
): { totalMs: number; downtimeMs?: number; bytes?: number; iterations?: number; jobDirtyRateMiBps?: number; nonzeroMemoryBytes?: number } {
  // memory_dirty_rate is in pages per second (libvirt-domain.h VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE).
  const dirtyPages = num(p, 'memory_dirty_rate');
  const pageBytes = num(p, 'memory_page_size') ?? 4096;
  // memory_constant: pages QEMU found filled with one byte and sent as a header only (its "duplicate"
  // count, libvirt-domain.h VIR_DOMAIN_JOB_MEMORY_CONSTANT); memory_total: the guest's RAM.
  const constantPages = num(p, 'memory_constant');
  const memoryTotal = num(p, 'memory_total');
  return {
    totalMs: num(p, 'time_elapsed') ?? fallbackTotalMs,
    downtimeMs: num(p, 'downtime'),
    bytes: num(p, 'data_processed') ?? num(p, 'memory_processed'),
    iterations: num(p, 'memory_iteration'),
    jobDirtyRateMiBps: dirtyPages === undefined ? undefined : (dirtyPages * pageBytes) / 2 ** 20,
    nonzeroMemoryBytes: constantPages === undefined || !(memoryTotal! > 0) ? undefined : Math.max(0, memoryTotal! - constantPages * pageBytes),
  };
}

/** "running (reason 1)", "absent", ...: for incident reports. */
export async function describeVmOn(conn: LibvirtConnection, uuid: string): Promise<string> {
  try {
    const dom = await conn.domainLookupByUuid(uuid);
    const { state, reason } = await conn.domainGetState(dom);
    return `${domainStateName(state) ?? `state ${state}`} (reason ${reason})`;
  } catch (error) {
    if (isNoDomain(error)) return 'absent';
    return `unknown (${(error as Error).message})`;
  }
}

/** The VM's libvirt state on a host (DomainState), or undefined when it is not defined there or the host does not answer. */
export async function stateOn(conn: LibvirtConnection, uuid: string): Promise<number | undefined> {
  try {
    return (await conn.domainGetState(await conn.domainLookupByUuid(uuid))).state;
  } catch {
    return undefined;
  }
}

/**
 * The log line of a move that failed (or was aborted) with the VM still on the source, in the
 * state libvirt reports there now: 'migration failed; VM still paused on the source'.
 */
export function stillOnSourceWording(aborted: boolean, sourceState: number | undefined): string {
  const name = sourceState === undefined ? undefined : domainStateName(sourceState);
  const state = name === undefined ? 'defined' : name === 'shutoff' ? 'shut off' : name;
  return `migration ${aborted ? 'aborted' : 'failed'}; VM still ${state} on the source`;
}

/** Holds the guest's memory: running, blocked or paused (a shut-off definition does not). */
export const isActiveState = (state: number | undefined): boolean =>
  state === DomainState.RUNNING || state === DomainState.BLOCKED || state === DomainState.PAUSED;

export async function runningOn(conn: LibvirtConnection, uuid: string): Promise<boolean> {
  try {
    const dom = await conn.domainLookupByUuid(uuid);
    return (await conn.domainGetState(dom)).state === DomainState.RUNNING;
  } catch {
    return false;
  }
}
