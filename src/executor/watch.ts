/**
 * The one polling loop over a migration job on its source host, shared by a move this process
 * started and a job adopted after a restart: poll the job's stats, hand each sample to the caller,
 * abort when the caller says so (deadline, cancel), and tell how the watch ended.
 *
 * The source is asked for through `connectionOf` at every poll, so a connection that the host
 * manager reopened after a loss is picked up: libvirt carries a peer-to-peer job on without the
 * client that asked for it, so losing our link says nothing about the migration.
 */
import { DomainPausedReason, DomainRunningReason, DomainState, type DomainRef, type LibvirtConnection, type TypedParams } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import { isNoDomain, sleep } from './vm-on-host.js';

/**
 * - `settled`: the caller's `until()` became true (the migration call returned);
 * - `ended`: the source has no job for the VM any more;
 * - `gone`: the VM is no longer defined on the source;
 * - `postcopyFailed`: the job is stuck after a failed post-copy (libvirt keeps it, paused, until a resume);
 * - `unreachable`: the source did not answer until `giveUpAtMs`;
 * - `stopped`: the controller is shutting down;
 * - `callUnanswered`: an abort was sent and `until()` stayed false for `abortGraceMs` after it (the
 *   migration call never returned: issue 27 R8); the caller reads where the VM is instead.
 */
export type WatchEnd = 'settled' | 'ended' | 'gone' | 'postcopyFailed' | 'unreachable' | 'stopped' | 'callUnanswered';

export interface WatchOptions {
  /** The source host's current connection, or undefined while it is down. */
  connectionOf: () => LibvirtConnection | undefined;
  vmUuid: string;
  /** The domain as already looked up on the source's current connection (saves a lookup). */
  known?: { conn: LibvirtConnection; dom: DomainRef };
  pollIntervalMs: number;
  log: Logger;
  /** Stop as soon as this is true (checked before each poll). */
  until?: () => boolean;
  /** Wakes a poll's sleep early (the migration call settling). */
  wake?: Promise<unknown>;
  stopped?: () => boolean;
  /** Stop with `unreachable` when the source has not answered by then (epoch ms). */
  giveUpAtMs?: number;
  /** Ask the domain's state at each poll to notice a failed post-copy (adoption has no call that fails). */
  detectPostcopyFailure?: boolean;
  /**
   * Keep watching when the source shows no job or no domain (a move whose call is still running:
   * the job may not exist yet, or the call has not returned yet); only `until` ends the watch.
   */
  untilOnly?: boolean;
  /** Each sample of an active job. */
  onSample?: (params: TypedParams, conn: LibvirtConnection, dom: DomainRef) => Promise<void>;
  /** A reason to abort the job now (deadline, cancel), or undefined; asked at each poll until an abort was sent. */
  abortReason?: (conn: LibvirtConnection, dom: DomainRef) => Promise<string | undefined>;
  onAbort?: (why: string) => void;
  /** With `until`: after an abort, how long `until()` may stay false before the watch ends `callUnanswered`, ms. */
  abortGraceMs?: number;
}

export interface WatchResult {
  end: WatchEnd;
  /** Why an abort was sent, when one was. */
  abortedWhy?: string;
}

/** Is this state libvirt's mark of a post-copy that failed after the switch (either side)? */
export function isPostcopyFailedState(state: { state: number; reason: number }): boolean {
  return (
    (state.state === DomainState.PAUSED && state.reason === DomainPausedReason.POSTCOPY_FAILED) ||
    (state.state === DomainState.RUNNING && state.reason === DomainRunningReason.POSTCOPY_FAILED)
  );
}

/** Poll the VM's job on its source until one of the ends in WatchEnd; never throws for a host that does not answer. */
export async function watchJob(o: WatchOptions): Promise<WatchResult> {
  let abortedWhy: string | undefined;
  let lastAnswerMs = Date.now();
  // Looked up again only on a new connection (the host manager reopened it).
  let domOn: { conn: LibvirtConnection; dom: DomainRef } | undefined = o.known;
  let abortedAtMs: number | undefined;
  const abort = async (conn: LibvirtConnection, dom: DomainRef): Promise<void> => {
    if (abortedWhy || !o.abortReason) return;
    const why = await o.abortReason(conn, dom);
    if (!why) return;
    abortedWhy = why;
    abortedAtMs = Date.now();
    o.log.warn({ why }, 'aborting migration');
    o.onAbort?.(why);
    await conn.domainAbortJob(dom).catch((e) => o.log.warn({ err: (e as Error).message }, 'abort refused'));
  };
  for (;;) {
    if (o.stopped?.()) return { end: 'stopped', abortedWhy };
    if (o.until?.()) return { end: 'settled', abortedWhy };
    if (abortedAtMs !== undefined && o.abortGraceMs !== undefined && Date.now() - abortedAtMs >= o.abortGraceMs) return { end: 'callUnanswered', abortedWhy };
    const conn = o.connectionOf();
    if (conn && !conn.closed) {
      try {
        if (domOn?.conn !== conn) domOn = { conn, dom: await conn.domainLookupByUuid(o.vmUuid) };
        const { dom } = domOn;
        const stats = await conn.domainGetJobStats(dom, 0);
        lastAnswerMs = Date.now();
        if (stats.type === 0) {
          if (!o.untilOnly) return { end: 'ended', abortedWhy };
          // No job to see, the call still out: the deadline holds all the same (an abort with no job is refused, harmlessly).
          await abort(conn, dom);
          await Promise.race([o.wake ?? new Promise(() => {}), sleep(o.pollIntervalMs)]);
          continue;
        }
        if (o.detectPostcopyFailure && isPostcopyFailedState(await conn.domainGetState(dom))) return { end: 'postcopyFailed', abortedWhy };
        await o.onSample?.(stats.params, conn, dom);
        await abort(conn, dom);
      } catch (error) {
        if (isNoDomain(error) && !o.untilOnly) return { end: 'gone', abortedWhy };
        o.log.debug({ err: (error as Error).message }, 'migration watch: source not answering; still watching');
      }
    }
    if (o.giveUpAtMs !== undefined && Date.now() >= o.giveUpAtMs && Date.now() - lastAnswerMs >= o.pollIntervalMs) return { end: 'unreachable', abortedWhy };
    await Promise.race([o.wake ?? new Promise(() => {}), sleep(o.pollIntervalMs)]);
  }
}
