/**
 * Where the VM is after a move: the verification of a completed call, and the outcome of a job
 * whose call result this process never saw (adopted after a restart, or our link to the source
 * lost mid-move), read from the VM's state on both hosts.
 */
import { DomainState, type LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Technique } from '../policy/plan-types.js';
import { failedResult, type MigrationResult, type ResultBase } from './result.js';
import { completedJobFigures, completedJobParams, describeVmOn, isActiveState, isNoDomain } from './vm-on-host.js';

/** The VM's state on one host: `known` false when the host did not answer (or is not connected). */
export interface HostView {
  known: boolean;
  /** DomainState, undefined when the VM is not defined there. */
  state?: number;
  description: string;
}

export async function viewOn(conn: LibvirtConnection | undefined, uuid: string): Promise<HostView> {
  if (!conn || conn.closed) return { known: false, description: 'unknown (host not connected)' };
  try {
    const { state } = await conn.domainGetState(await conn.domainLookupByUuid(uuid));
    return { known: true, state, description: await describeVmOn(conn, uuid) };
  } catch (error) {
    if (isNoDomain(error)) return { known: true, description: 'absent' };
    return { known: false, description: `unknown (${(error as Error).message})` };
  }
}

/**
 * Is the VM where a finished move leaves it? A cold move leaves a shut-off definition on the
 * target; a live one an active VM, paused only if it was paused before the move.
 */
export function placedOnTarget(technique: Technique, stateBefore: number | undefined, target: HostView): boolean {
  if (!target.known) return false;
  if (technique === 'cold') return target.state === DomainState.SHUTOFF;
  if (!isActiveState(target.state)) return false;
  return stateBefore === undefined || (target.state === DomainState.PAUSED) === (stateBefore === DomainState.PAUSED);
}

/** Still holds the VM: active, or for a VM that was not active before the move, defined. */
export function heldBySource(stateBefore: number | undefined, source: HostView): boolean {
  if (!source.known) return false;
  return stateBefore === undefined || isActiveState(stateBefore) ? isActiveState(source.state) : source.state !== undefined;
}

export interface PlacementOutcomeOptions {
  base: ResultBase;
  connectionOf: (host: string) => LibvirtConnection | undefined;
  /** The VM's state on the source before the move (undefined for an adopted job: treated as active). */
  stateBefore?: number;
  switchedToPostcopy?: boolean;
  iterations?: number;
  /** Why an abort was sent, when one was. */
  abortedWhy?: string;
  /** Why the call's own result was not seen: the error of a move that did not happen. */
  unseenWhy: string;
  log: Logger;
}

/**
 * The outcome of a job read from where the VM is: on the target and gone from the source →
 * completed (libvirt's figures from the target's completed job); still on the source and not on
 * the target → failed (or aborted); anything else, or a host that does not answer → failed with
 * an incident giving both hosts' states.
 */
export async function outcomeFromPlacement(o: PlacementOutcomeOptions): Promise<MigrationResult> {
  const { base } = o;
  const endedAtMs = Date.now();
  const sourceConn = o.connectionOf(base.from);
  const targetConn = o.connectionOf(base.to);
  const [source, target] = [await viewOn(sourceConn, base.vmUuid), await viewOn(targetConn, base.vmUuid)];
  const onTarget = placedOnTarget(base.technique, o.stateBefore, target);
  const onSource = heldBySource(o.stateBefore, source);
  if (onTarget && source.known && !onSource) {
    const figures = completedJobFigures((await completedJobParams(targetConn!, base.vmUuid)) ?? {}, endedAtMs - base.startedAtMs);
    o.log.info({ ...figures, why: o.unseenWhy }, 'migration completed (seen from where the VM is)');
    return { ...base, ...figures, outcome: 'completed', switchedToPostcopy: o.switchedToPostcopy ?? false, endedAtMs };
  }
  if (onSource && target.known && !isActiveState(target.state)) {
    const error = o.abortedWhy ? `aborted: ${o.abortedWhy}` : o.unseenWhy;
    o.log.warn({ err: error }, 'migration did not complete; VM still on the source');
    return failedResult(base, {
      error,
      outcome: o.abortedWhy ? 'aborted' : 'failed',
      iterations: o.iterations,
      switchedToPostcopy: o.switchedToPostcopy,
      endedAtMs,
    });
  }
  const incident = `the VM is ${source.description} on ${base.from} and ${target.description} on ${base.to}`;
  o.log.error({ incident }, 'VM not found on exactly one of source and target');
  return failedResult(base, {
    error: `verification failed: ${o.unseenWhy}`,
    incident,
    iterations: o.iterations,
    switchedToPostcopy: o.switchedToPostcopy,
    endedAtMs,
  });
}
