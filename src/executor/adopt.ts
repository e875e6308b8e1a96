/**
 * Watching a migration this controller started before it restarted. libvirt carries a
 * peer-to-peer migration on after the client that asked for it dies (seen in the lab: a `migrate`
 * killed with SIGKILL left the job running to completion), so a restarted controller finds the
 * job on the source. It watches the job to its end, aborts it at the deadline counted from when
 * the first run started it (as that run would have), and records the real outcome, so the journal
 * and metrics have no hole where the restart was.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import { DomainState, type LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Prediction, Technique } from '../policy/plan-types.js';
import type { UnfinishedStart } from '../history/journal.js';
import type { MigrationResult } from './migrate.js';
import { completedJobFigures, completedJobParams, describeVmOn, isNoDomain, num, runningOn, sleep } from './vm-on-host.js';

/** Prediction of a journal entry written before 'started' entries carried one. */
export const UNKNOWN_PREDICTION: Prediction = { totalSeconds: 0, downtimeMs: 0, bytes: 0, converges: true };

export interface AdoptedJobOptions {
  job: UnfinishedStart;
  /** The host's current connection (it may reconnect while we watch); undefined while down. */
  connectionOf: (host: string) => LibvirtConnection | undefined;
  config: MigrationConfig;
  logger: Logger;
  /** True once the controller is shutting down: stop watching, record nothing. */
  stopped: () => boolean;
  onAdapt?: (action: string, detail: string) => void;
}

/** Resolves with the job's outcome, or undefined when the controller stopped watching first. */
export async function watchAdoptedJob(options: AdoptedJobOptions): Promise<MigrationResult | undefined> {
  const { job, config, connectionOf } = options;
  const log = options.logger.child({ vm: job.vm, from: job.from, to: job.to, technique: job.technique, adopted: true });
  const deadlineSeconds = job.deadlineSeconds ?? config.deadlineSeconds;
  const deadlineMs = job.startedAtMs + deadlineSeconds * 1000;
  let abortedAtDeadline = false;
  let lastIteration: number | undefined;

  for (;;) {
    if (options.stopped()) return undefined;
    const source = connectionOf(job.from);
    if (source) {
      try {
        const dom = await source.domainLookupByUuid(job.vmUuid);
        const stats = await source.domainGetJobStats(dom, 0);
        if (stats.type === 0) break;
        lastIteration = num(stats.params, 'memory_iteration') ?? lastIteration;
        if (!abortedAtDeadline && Date.now() >= deadlineMs) {
          // Only while pre-copy: after a post-copy switch the guest's memory is split between hosts.
          if ((await source.domainGetState(dom)).state === DomainState.RUNNING) {
            abortedAtDeadline = true;
            const why = `deadline of ${deadlineSeconds} s reached (counted from the start before the restart)`;
            log.warn({ why }, 'aborting adopted migration');
            options.onAdapt?.('abort', why);
            await source.domainAbortJob(dom).catch((e) => log.warn({ err: (e as Error).message }, 'abort refused'));
          }
        }
      } catch (error) {
        if (isNoDomain(error)) break; // gone from the source: the job ended
        log.debug({ err: (error as Error).message }, 'adopted job: source not answering; still watching');
      }
    }
    await sleep(config.pollIntervalMs);
  }

  const endedAtMs = Date.now();
  const source = connectionOf(job.from);
  const target = connectionOf(job.to);
  const onSource = source ? await runningOn(source, job.vmUuid) : false;
  const onTarget = target ? await runningOn(target, job.vmUuid) : false;
  const base = {
    vm: job.vm,
    vmUuid: job.vmUuid,
    from: job.from,
    to: job.to,
    technique: job.technique as Technique,
    predicted: job.predicted ?? UNKNOWN_PREDICTION,
    switchedToPostcopy: false,
    startedAtMs: job.startedAtMs,
    endedAtMs,
    adoptedAfterRestart: true,
  };
  if (onTarget && !onSource) {
    const figures = completedJobFigures((await completedJobParams(target!, job.vmUuid)) ?? {}, endedAtMs - job.startedAtMs);
    log.info(figures, 'adopted migration completed');
    return { ...base, ...figures, outcome: 'completed' };
  }
  const totalMs = endedAtMs - job.startedAtMs;
  if (onSource && !onTarget) {
    const error = abortedAtDeadline ? `aborted: ${deadlineSeconds} s deadline` : 'the migration ended without moving the VM (it ended while the controller was restarting or libvirt failed it)';
    log.warn({ err: error }, 'adopted migration did not complete; VM still running on the source');
    return { ...base, outcome: abortedAtDeadline ? 'aborted' : 'failed', totalMs, iterations: lastIteration, error };
  }
  const describe = async (conn: LibvirtConnection | undefined) => (conn ? describeVmOn(conn, job.vmUuid) : 'unknown (host not connected)');
  const incident = `after an adopted migration the VM is ${await describe(source)} on ${job.from} and ${await describe(target)} on ${job.to}`;
  log.error({ incident }, 'adopted migration: VM not running on exactly one of source and target');
  return { ...base, outcome: 'failed', totalMs, iterations: lastIteration, error: 'verification failed', incident };
}
