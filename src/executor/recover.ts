/**
 * Recovery after a post-copy that failed after the switch: the guest's memory is split between
 * the hosts, so the only ways out are libvirt's post-copy recovery (VIR_MIGRATE_POSTCOPY_RESUME,
 * which needs both QEMUs alive and in postcopy-paused) or an incident for an operator. Shared by a
 * move this process watched and a job adopted after a restart.
 */
import { ErrorCode, LibvirtError, MigrateFlags, type DomainRef, type LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { featureMissing } from '../policy/capabilities.js';
import { failedResult, type MigrationResult, type ResultBase } from './result.js';
import type { MigrationRecipe } from './technique-params.js';
import { viewOn } from './verify.js';
import { runningOn, sleep } from './vm-on-host.js';

/** How long a resume is retried while libvirt says a side has not yet seen the failure. */
const RESUME_NOT_READY_WINDOW_MS = 30_000;
const RESUME_RETRY_INTERVAL_MS = 500;

/**
 * libvirt refuses VIR_MIGRATE_POSTCOPY_RESUME until both QEMUs are in postcopy-paused; these are its
 * words (libvirt 9.0, qemuMigrationSrcBeginResume and qemuMigrationAnyCanResume) for "not yet".
 */
export function resumeNotReadyYet(error: unknown): boolean {
  if (!(error instanceof LibvirtError) || error.code !== ErrorCode.OPERATION_INVALID) return false;
  return /migration is still running|has not failed/.test(error.message);
}

export interface PostcopyRecoveryOptions {
  base: ResultBase;
  connectionOf: (host: string) => LibvirtConnection | undefined;
  targetUri: string | undefined;
  /** The flags and parameters of the migration to resume (libvirt wants the same ones back). */
  recipe: MigrationRecipe;
  /** What failed: the call's error, or how an adopting controller found the job. */
  failure: string;
  log: Logger;
  metrics?: Metrics;
}

/**
 * Count the incident, resume the migration where libvirt can, and return the result with an
 * incident that says what was tried and where the VM is on both hosts. Never throws.
 */
export async function recoverPostcopy(o: PostcopyRecoveryOptions): Promise<MigrationResult> {
  const { base, log } = o;
  o.metrics?.postcopyIncidentsTotal.inc();
  const source = o.connectionOf(base.from);
  const target = o.connectionOf(base.to);
  const where = async () =>
    `VM is ${(await viewOn(o.connectionOf(base.from), base.vmUuid)).description} on ${base.from} and ${(await viewOn(o.connectionOf(base.to), base.vmUuid)).description} on ${base.to}`;
  // Where libvirt lacks recovery, or its recovery is known to crash the target's daemon, asking
  // for it would take the target host's management down too.
  const noRecovery =
    !source || !target || !o.targetUri
      ? `host ${!source ? base.from : base.to} is not connected`
      : (featureMissing('postcopyResume', source.versions) ?? featureMissing('postcopyResume', target.versions));
  if (noRecovery) {
    const incident = `post-copy failed after the switch (${o.failure}); recovery not attempted: ${noRecovery}; ${await where()}`;
    log.error({ incident }, 'post-copy incident');
    return failedResult(base, { error: o.failure, incident, switchedToPostcopy: true });
  }
  let recovered = false;
  let attempts = 0;
  const until = Date.now() + RESUME_NOT_READY_WINDOW_MS;
  let dom: DomainRef | undefined;
  for (;;) {
    attempts++;
    try {
      dom ??= await source!.domainLookupByUuid(base.vmUuid);
      await source!.domainMigratePerform3Params(dom, o.targetUri!, o.recipe.params, o.recipe.flags | MigrateFlags.POSTCOPY_RESUME);
      recovered = await runningOn(target!, base.vmUuid);
      break;
    } catch (error) {
      // libvirt reports the failure as soon as one side notices; the other QEMU may take a moment
      // to reach postcopy-paused, and until then libvirt refuses the resume.
      if (resumeNotReadyYet(error) && Date.now() < until) {
        log.debug({ err: (error as Error).message, attempt: attempts }, 'post-copy recovery not possible yet');
        await sleep(RESUME_RETRY_INTERVAL_MS);
        continue;
      }
      log.error({ err: (error as Error).message, attempts }, 'post-copy recovery failed');
      break;
    }
  }
  const incident = `post-copy failed after the switch (${o.failure}); recovery ${recovered ? 'succeeded' : 'failed'} (${attempts} attempt${attempts === 1 ? '' : 's'}); ${await where()}`;
  log.error({ incident }, 'post-copy incident');
  if (recovered)
    return {
      ...base,
      outcome: 'completed',
      totalMs: Date.now() - base.startedAtMs,
      switchedToPostcopy: true,
      error: o.failure,
      incident,
      endedAtMs: Date.now(),
    };
  return failedResult(base, { error: o.failure, incident, switchedToPostcopy: true });
}
