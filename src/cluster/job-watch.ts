/**
 * Which VMs of one host need a job-info call this tick. Asking every running VM costs one RPC per
 * VM per tick (30 VMs: 30 of a host's 33 calls), though almost none has a job. Instead:
 *
 * - the host's domain events say when a migration runs: QEMU reports each pre-copy pass
 *   (MIGRATION_PASS, from the first pass on), libvirt forwards it as
 *   VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION on the source, and VIR_DOMAIN_EVENT_ID_JOB_COMPLETED
 *   when the job ends (remote_protocol.x: remote_domain_event_callback_migration_iteration_msg,
 *   remote_domain_event_callback_job_completed_msg);
 * - the bulk stats' state and reason show the other side: an incoming copy is paused with reason
 *   VIR_DOMAIN_PAUSED_MIGRATION, post-copy shows as PAUSED_POSTCOPY / RUNNING_POSTCOPY (and their
 *   _FAILED forms);
 * - migrations the executor runs are known to the caller.
 *
 * Job info is asked for those VMs only, and for a VM until it reports no job. Events sent while
 * no connection was open are lost, so on every new connection (the first, and after a reconnect)
 * one tick asks every running or paused VM, after subscribing, so nothing falls between. A daemon
 * that refuses the subscription gets the per-VM calls every tick, as before.
 *
 * Not seen without job info: a non-migration job (save, dump, backup) started by someone else
 * after the connection opened; a move planned onto such a VM fails with libvirt's "another job"
 * error and is retried after policy.retryAfterFailureSeconds.
 */
import { DomainPausedReason, DomainRunningReason, DomainState, type DomainEvent, type LibvirtConnection } from '../libvirt/index.js';

export class HostJobWatch {
  private conn: LibvirtConnection | undefined;
  private listener: ((e: DomainEvent) => void) | undefined;
  /** VMs (by UUID) with a migration seen under way and no job-info answer of "none" since. */
  private readonly migrating = new Set<string>();
  /** Ask every VM this tick (a new connection, or events unavailable). */
  private sweep = true;
  private eventsUnavailable = false;

  /** Subscribe to the connection's domain events if it is not the one watched already (awaits the subscription). */
  async attach(conn: LibvirtConnection): Promise<void> {
    if (conn === this.conn) return;
    if (this.conn && this.listener) this.conn.off('domainEvent', this.listener);
    this.conn = conn;
    this.migrating.clear();
    this.sweep = true;
    this.eventsUnavailable = false;
    const listener = (e: DomainEvent) => {
      if (e.kind === 'migrationIteration') this.migrating.add(e.domain.uuid);
      else if (e.kind === 'jobCompleted') this.migrating.delete(e.domain.uuid);
    };
    this.listener = listener;
    conn.on('domainEvent', listener);
    try {
      await conn.subscribeDomainEvents();
    } catch {
      this.eventsUnavailable = true;
    }
  }

  /**
   * Whether this VM needs a job-info call: every running or paused VM on a sweep; otherwise one a
   * migration event named, one whose state or reason (bulk stats' state.state / state.reason) says
   * a migration holds it, or one the caller knows is migrating.
   */
  needsJobInfo(uuid: string, stateCode: number, reason: number | undefined, knownMigrating: boolean): boolean {
    if (stateCode !== DomainState.RUNNING && stateCode !== DomainState.PAUSED) return false;
    if (this.sweep || knownMigrating || this.migrating.has(uuid)) return true;
    if (stateCode === DomainState.PAUSED)
      return reason === DomainPausedReason.MIGRATION || reason === DomainPausedReason.POSTCOPY || reason === DomainPausedReason.POSTCOPY_FAILED;
    return reason === DomainRunningReason.POSTCOPY || reason === DomainRunningReason.POSTCOPY_FAILED;
  }

  /** Job info's answer: a VM with a job stays asked each tick until it has none. */
  record(uuid: string, jobRunning: boolean): void {
    if (jobRunning) this.migrating.add(uuid);
    else this.migrating.delete(uuid);
  }

  /** The host's tick is read: from now on events say what changes (unless the daemon refused them). */
  endTick(): void {
    this.sweep = this.eventsUnavailable;
  }
}
