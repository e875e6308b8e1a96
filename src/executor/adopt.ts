/**
 * Watching a migration this controller started before it restarted. libvirt carries a
 * peer-to-peer migration on after the client that asked for it dies (seen in the lab: a `migrate`
 * killed with SIGKILL left the job running to completion), so a restarted controller finds the
 * job on the source. It watches the job to its end with the same loop as a live move (watch.ts),
 * aborts it at the deadline counted from when the first run started it, and records the real
 * outcome, so the journal and metrics have no hole where the restart was. A job left stuck by a
 * post-copy that failed while no controller watched is recovered where libvirt can, or reported.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import { DomainState, type LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { pairFeatures } from '../policy/capabilities.js';
import type { Prediction, Technique } from '../policy/plan-types.js';
import type { UnfinishedStart } from '../history/journal.js';
import { recoverPostcopy } from './recover.js';
import type { MigrationResult, ResultBase } from './result.js';
import { recipeFor } from './technique-params.js';
import { outcomeFromPlacement } from './verify.js';
import { num } from './vm-on-host.js';
import { watchJob } from './watch.js';

/** Prediction of a journal entry written before 'started' entries carried one. */
export const UNKNOWN_PREDICTION: Prediction = { totalSeconds: 0, downtimeMs: 0, bytes: 0, converges: true };

export interface AdoptedJobOptions {
  job: UnfinishedStart;
  /** The host's current connection (it may reconnect while we watch); undefined while down. */
  connectionOf: (host: string) => LibvirtConnection | undefined;
  /** The target's libvirt URI, for a post-copy resume. */
  targetUri?: string;
  config: MigrationConfig;
  logger: Logger;
  metrics?: Metrics;
  /** True once the controller is shutting down: stop watching, record nothing. */
  stopped: () => boolean;
  onAdapt?: (action: string, detail: string) => void;
}

/** The result fields an adopted job starts from. */
export function adoptedBase(job: UnfinishedStart): ResultBase {
  return {
    vm: job.vm,
    vmUuid: job.vmUuid,
    from: job.from,
    to: job.to,
    technique: job.technique as Technique,
    predicted: job.predicted ?? UNKNOWN_PREDICTION,
    startedAtMs: job.startedAtMs,
    adoptedAfterRestart: true,
  };
}

/** Resolves with the job's outcome, or undefined when the controller stopped watching first. */
export async function watchAdoptedJob(options: AdoptedJobOptions): Promise<MigrationResult | undefined> {
  const { job, config, connectionOf } = options;
  const log = options.logger.child({ vm: job.vm, from: job.from, to: job.to, technique: job.technique, adopted: true });
  const deadlineSeconds = job.deadlineSeconds ?? config.deadlineSeconds;
  const deadlineMs = job.startedAtMs + deadlineSeconds * 1000;
  let lastIteration: number | undefined;
  const watched = await watchJob({
    connectionOf: () => connectionOf(job.from),
    vmUuid: job.vmUuid,
    pollIntervalMs: config.pollIntervalMs,
    log,
    stopped: options.stopped,
    detectPostcopyFailure: true,
    onSample: async (params) => {
      lastIteration = num(params, 'memory_iteration') ?? lastIteration;
    },
    // Only while pre-copy: after a post-copy switch the guest's memory is split between hosts.
    abortReason: async (conn, dom) =>
      Date.now() >= deadlineMs && (await conn.domainGetState(dom)).state === DomainState.RUNNING
        ? `deadline of ${deadlineSeconds} s reached (counted from the start before the restart)`
        : undefined,
    onAbort: (why) => options.onAdapt?.('abort', why),
  });
  if (watched.end === 'stopped') return undefined;
  const base = adoptedBase(job);
  if (watched.end === 'postcopyFailed') {
    const source = connectionOf(job.from);
    const target = connectionOf(job.to);
    // libvirt wants the migration's own flags back for a resume; rebuilt from the journaled technique.
    const recipe = recipeFor(base.technique, {
      // It was running when it switched to post-copy (libvirt allows the switch only then).
      sourceState: undefined,
      config,
      targetLibvirtUri: options.targetUri ?? '',
      copyStorage: false,
      allowPostcopySwitch: true,
      features: source && target ? pairFeatures(source.versions, target.versions) : undefined,
    });
    return recoverPostcopy({
      base,
      connectionOf,
      targetUri: options.targetUri,
      recipe,
      failure: 'found the post-copy failed (paused after the switch) after a restart',
      log,
      metrics: options.metrics,
    });
  }
  return outcomeFromPlacement({
    base,
    connectionOf,
    iterations: lastIteration,
    abortedWhy: watched.abortedWhy,
    unseenWhy: 'the migration ended without moving the VM (it ended while the controller was restarting or libvirt failed it)',
    log,
  });
}
