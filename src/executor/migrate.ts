/**
 * Running one move: the peer-to-peer migration call, the watch over the live job (progress,
 * iterations, data remaining), adapting (post-copy switch, max downtime within the budget, abort at
 * the deadline), then verifying where the VM runs and recording real figures beside the prediction.
 *
 * Nothing is lost: after an abort or failure the VM must still run on the source, and that is
 * checked and reported; a post-copy that fails after the switch is recovered when libvirt can, or
 * reported as an incident with the VM's state on both hosts.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import { DomainState, ErrorCode, LibvirtError, MigrateFlags, type DomainEvent, type DomainRef, type LibvirtConnection, type TypedParams } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import type { Move, Prediction, Technique } from '../policy/plan-types.js';
import { disksToCopy, type DomainDisk } from '../cluster/disks.js';
import { coldMoveWithLocalDisks, explainStorageCopyError } from './storage-copy.js';
import { explainMigrationTlsError } from './tls-errors.js';
import { featureMissing, pairFeatures } from '../policy/capabilities.js';
import { recipeFor } from './technique-params.js';
import { completedJobFigures, completedJobParams, describeVmOn, isActiveState, num, runningOn, sleep, stateOn } from './vm-on-host.js';

export type Outcome = 'completed' | 'aborted' | 'failed';

/** How long a post-copy-from-the-start move retries its switch at a short interval (the target's prepare phase). */
const IMMEDIATE_SWITCH_FAST_RETRY_MS = 10_000;
const IMMEDIATE_SWITCH_RETRY_INTERVAL_MS = 50;
/** How long a post-copy resume is retried while libvirt says a side has not yet seen the failure. */
const RESUME_NOT_READY_WINDOW_MS = 30_000;
const RESUME_RETRY_INTERVAL_MS = 500;

export interface MigrationProgress {
  phase: 'precopy' | 'postcopy';
  iteration: number;
  dataProcessedBytes: number;
  dataRemainingBytes: number;
  dataTotalBytes: number;
  percent: number;
  mibps: number;
  dirtyRateMiBps: number;
  etaSeconds?: number;
  elapsedMs: number;
}

export interface MigrationResult {
  vm: string;
  vmUuid: string;
  from: string;
  to: string;
  technique: Technique;
  outcome: Outcome;
  totalMs: number;
  downtimeMs?: number;
  bytes?: number;
  /** Of bytes, what the storage copy sent (libvirt's disk_processed). */
  diskBytes?: number;
  iterations?: number;
  /** Dirty rate libvirt's job stats saw, MiB/s. */
  jobDirtyRateMiBps?: number;
  switchedToPostcopy: boolean;
  predicted: Prediction;
  /** What the prediction assumed (absent for a job adopted from an old journal). */
  inputs?: Move['inputs'];
  error?: string;
  /** Where the VM was found after a failure, or what went wrong after a post-copy switch. */
  incident?: string;
  startedAtMs: number;
  endedAtMs: number;
  /** Started by an earlier run of the controller and seen to its end by this one. */
  adoptedAfterRestart?: boolean;
  /** The stream was encrypted (VIR_MIGRATE_TLS); absent: not known (a job adopted after a restart). */
  tls?: boolean;
}

export interface RunMigrationOptions {
  source: LibvirtConnection;
  target: LibvirtConnection;
  targetUri: string;
  config: MigrationConfig;
  downtimeBudgetMs: number;
  /** Post-copy may be used as a fallback when pre-copy stalls (policy allows post-copy). */
  allowPostcopySwitch: boolean;
  bandwidthMiBps?: number;
  logger: Logger;
  metrics?: Metrics;
  onProgress?: (p: MigrationProgress) => void;
  onAdapt?: (action: string, detail: string) => void;
  /** Abort when this promise resolves (controller shutdown does not use it: jobs are left running). */
  cancel?: Promise<void>;
  /** Encrypt the stream with QEMU's TLS (VIR_MIGRATE_TLS); migration-tls.ts decides from migration.tls. */
  tls?: boolean;
  /** The target's hosts[].migrationAddress: the stream goes there instead of the host part of targetUri. */
  targetMigrationAddress?: string;
}

export async function runMigration(move: Move, options: RunMigrationOptions): Promise<MigrationResult> {
  const { source, target, config, logger } = options;
  const log = logger.child({ vm: move.vmName, from: move.from, to: move.to, technique: move.technique });
  const startedAtMs = Date.now();
  const base = { vm: move.vmName, vmUuid: move.vmUuid, from: move.from, to: move.to, technique: move.technique, predicted: move.predicted, inputs: move.inputs, startedAtMs, tls: options.tls === true };
  const dom: DomainRef = await source.domainLookupByUuid(move.vmUuid);
  // A paused VM moves live and stays paused; a shut-off one moves cold and stays shut off.
  const stateBefore = (await source.domainGetState(dom)).state;
  // The disks to copy are read from the running definition now, not when the move was planned.
  const disks: DomainDisk[] = move.copyStorage ? disksToCopy(await source.domainGetXmlDesc(dom)) : [];
  const storage = { vm: move.vmName, targetHost: move.to, disks };
  if (move.technique === 'cold' && disks.length > 0) {
    const error = coldMoveWithLocalDisks(storage);
    log.warn({ err: error }, 'move refused');
    return { ...base, outcome: 'failed', totalMs: 0, switchedToPostcopy: false, error, endedAtMs: Date.now() };
  }
  const features = pairFeatures(source.versions, target.versions);
  const recipe = recipeFor(move.technique, {
    config,
    targetLibvirtUri: options.targetUri,
    copyStorage: move.copyStorage,
    migrateDisks: move.copyStorage ? disks.map((d) => d.target) : undefined,
    allowPostcopySwitch: options.allowPostcopySwitch,
    bandwidthMiBps: options.bandwidthMiBps,
    features,
    tls: options.tls,
    targetMigrationAddress: options.targetMigrationAddress,
  });

  let completedParams: TypedParams | undefined;
  const onEvent = (e: DomainEvent) => {
    if (e.kind === 'jobCompleted' && e.domain.uuid === move.vmUuid) completedParams = e.params;
  };
  await source.subscribeDomainEvents().catch(() => {});
  source.on('domainEvent', onEvent);

  if (move.technique !== 'cold') {
    await source.domainMigrateSetMaxDowntime(dom, config.techniques.precopy.maxDowntimeMs).catch((e) => log.warn({ err: (e as Error).message }, 'could not set max downtime'));
  }
  log.info({ flags: recipe.flags, params: recipe.params, postcopy: recipe.postcopy.mode, predicted: move.predicted }, 'migration starting');
  options.metrics?.migrationsInFlight.inc();

  let finished = false;
  let aborted = false;
  let switchedToPostcopy = false;
  let lastIteration = 0;
  const call = source.domainMigratePerform3Params(dom, options.targetUri, recipe.params, recipe.flags);
  const settled = call.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  void settled.then(() => (finished = true));

  let switchRefusals = 0;
  const switchToPostcopy = async (why: string) => {
    if (switchedToPostcopy) return;
    try {
      await source.domainMigrateStartPostCopy(dom, 0);
      switchedToPostcopy = true;
      log.info({ why, refusedBefore: switchRefusals }, 'switched to post-copy');
      options.onAdapt?.('postcopy', why);
    } catch (error) {
      // A switch retried at every poll would otherwise repeat the same warning until the job ends.
      if (switchRefusals++ === 0) log.warn({ why, err: (error as Error).message }, 'post-copy switch refused');
      else log.debug({ why, err: (error as Error).message, refusals: switchRefusals }, 'post-copy switch refused again');
    }
  };

  // Watch the job until the call settles.
  const deadlineSeconds = deadlineSecondsFor(move, config);
  const deadlineMs = startedAtMs + deadlineSeconds * 1000;
  let raisedDowntime = false;
  let minRemaining = Number.POSITIVE_INFINITY;
  let stalledIterations = 0;
  let cancelled = false;
  void options.cancel?.then(() => (cancelled = true));
  if (recipe.postcopy.mode === 'immediately') {
    // libvirt's job exists while the target is still being prepared, and QEMU refuses the switch
    // ("Enable postcopy with migrate_set_capability before the start of migration") until libvirt
    // has started QEMU's migration with the post-copy capability: retry at a short interval for a
    // while, then at every poll of the watch below.
    const until = Date.now() + IMMEDIATE_SWITCH_FAST_RETRY_MS;
    while (!finished && !switchedToPostcopy && Date.now() < until) {
      const job = await source.domainGetJobStats(dom, 0).catch(() => undefined);
      if (job && job.type !== 0) await switchToPostcopy('technique is post-copy');
      if (!switchedToPostcopy) await Promise.race([settled, sleep(IMMEDIATE_SWITCH_RETRY_INTERVAL_MS)]);
    }
  }
  while (!finished) {
    const job = await source.domainGetJobStats(dom, 0).catch(() => undefined);
    if (job && job.type !== 0 && recipe.postcopy.mode === 'immediately' && !switchedToPostcopy) await switchToPostcopy('technique is post-copy');
    if (job && job.type !== 0) {
      const p = job.params;
      const iteration = num(p, 'memory_iteration') ?? 0;
      const remaining = num(p, 'data_remaining') ?? 0;
      const processed = num(p, 'data_processed') ?? 0;
      const total = num(p, 'data_total') ?? 0;
      const bps = num(p, 'memory_bps') ?? 0;
      const pageSize = num(p, 'memory_page_size') ?? 4096;
      const dirtyBps = (num(p, 'memory_dirty_rate') ?? 0) * pageSize;
      const elapsedMs = Date.now() - startedAtMs;
      options.onProgress?.({
        phase: switchedToPostcopy ? 'postcopy' : 'precopy',
        iteration,
        dataProcessedBytes: processed,
        dataRemainingBytes: remaining,
        dataTotalBytes: total,
        percent: total > 0 ? Math.min(100, (100 * (total - remaining)) / total) : 0,
        mibps: bps / 2 ** 20,
        dirtyRateMiBps: dirtyBps / 2 ** 20,
        etaSeconds: bps > dirtyBps && bps > 0 ? remaining / (bps - dirtyBps) : undefined,
        elapsedMs,
      });
      if (iteration > lastIteration) {
        lastIteration = iteration;
        // A pass that did not bring data remaining below the best seen so far is a stall.
        if (iteration > 1) {
          if (remaining < minRemaining * 0.9) stalledIterations = 0;
          else stalledIterations++;
        }
        minRemaining = Math.min(minRemaining, remaining);
        if (recipe.postcopy.mode === 'afterIterations' && iteration > recipe.postcopy.iterations) await switchToPostcopy(`hybrid: after ${recipe.postcopy.iterations} pre-copy pass(es)`);
        if (!switchedToPostcopy && stalledIterations >= config.stuckAfterIterations - 1) {
          if (recipe.postcopy.mode === 'whenStuck') await switchToPostcopy(`pre-copy not converging: data remaining ${Math.round(remaining / 2 ** 20)} MiB after ${iteration} iterations`);
          else if (config.raiseDowntimeWithinBudget && !raisedDowntime && bps > 0 && (remaining / bps) * 1000 <= options.downtimeBudgetMs) {
            raisedDowntime = true;
            await source.domainMigrateSetMaxDowntime(dom, options.downtimeBudgetMs).catch(() => {});
            options.onAdapt?.('downtime', `max downtime raised to the ${options.downtimeBudgetMs} ms budget`);
            log.info({ downtimeMs: options.downtimeBudgetMs }, 'raised max downtime within the budget');
          }
        }
      }
    }
    if (!switchedToPostcopy && !aborted && (Date.now() >= deadlineMs || cancelled)) {
      aborted = true;
      const why = cancelled ? 'cancelled' : `deadline of ${deadlineSeconds} s reached`;
      log.warn({ why }, 'aborting migration');
      options.onAdapt?.('abort', why);
      await source.domainAbortJob(dom).catch((e) => log.warn({ err: (e as Error).message }, 'abort refused'));
    }
    await Promise.race([settled, sleep(config.pollIntervalMs)]);
  }
  const result = await settled;
  options.metrics?.migrationsInFlight.dec();
  source.off('domainEvent', onEvent);
  const endedAtMs = Date.now();

  if (result.ok) {
    // Real figures: the job-completed event, else the destination's completed-job stats.
    for (let i = 0; i < 20 && !completedParams; i++) await sleep(50);
    completedParams ??= await completedJobParams(target, move.vmUuid);
    const p = completedParams ?? {};
    const [targetState, sourceState] = [await stateOn(target, move.vmUuid), await stateOn(source, move.vmUuid)];
    const figures = { ...completedJobFigures(p, endedAtMs - startedAtMs), diskBytes: disks.length > 0 ? num(p, 'disk_processed') : undefined };
    // On the target in the state it left (a cold move's definition shut off there), and no longer active on the source.
    const placed = move.technique === 'cold' ? targetState === DomainState.SHUTOFF : isActiveState(targetState) && (targetState === DomainState.PAUSED) === (stateBefore === DomainState.PAUSED);
    if (!placed || isActiveState(sourceState)) {
      const incident = `after completion the VM is ${await describeVmOn(target, move.vmUuid)} on ${move.to} and ${await describeVmOn(source, move.vmUuid)} on ${move.from}`;
      log.error({ incident }, 'migration reported success but verification failed');
      return { ...base, ...figures, outcome: 'failed', switchedToPostcopy, error: 'verification failed', incident, endedAtMs };
    }
    log.info({ ...figures }, 'migration completed');
    return { ...base, ...figures, outcome: 'completed', switchedToPostcopy, endedAtMs };
  }

  const error = result.error;
  const raw = error instanceof LibvirtError ? `${error.codeName}: ${error.message}` : (error as Error)?.message ?? String(error);
  // libvirt's own words stay at the end: they are what its docs and bug trackers are searched by.
  const explained = (disks.length > 0 ? explainStorageCopyError(raw, storage) : undefined) ?? explainMigrationTlsError(raw, { vm: move.vmName, from: move.from, to: move.to, tls: options.tls === true });
  const message = explained ? `${explained} (libvirt: ${raw})` : raw;
  if (switchedToPostcopy) {
    // The guest's memory is split between hosts: resume the migration with libvirt's post-copy recovery.
    options.metrics?.postcopyIncidentsTotal.inc();
    // Where libvirt lacks recovery, or its recovery is known to crash the target's daemon, asking
    // for it would take the target host's management down too.
    const noRecovery = featureMissing('postcopyResume', source.versions) ?? featureMissing('postcopyResume', target.versions);
    if (noRecovery) {
      const incident = `post-copy failed after the switch (${message}); recovery not attempted: ${noRecovery}; VM is ${await describeVmOn(source, move.vmUuid)} on ${move.from} and ${await describeVmOn(target, move.vmUuid)} on ${move.to}`;
      log.error({ incident }, 'post-copy incident');
      return { ...base, outcome: 'failed', totalMs: Date.now() - startedAtMs, switchedToPostcopy, error: message, incident, endedAtMs: Date.now() };
    }
    let recovered = false;
    let resumeAttempts = 0;
    const resumeUntil = Date.now() + RESUME_NOT_READY_WINDOW_MS;
    for (;;) {
      resumeAttempts++;
      try {
        await source.domainMigratePerform3Params(dom, options.targetUri, recipe.params, recipe.flags | MigrateFlags.POSTCOPY_RESUME);
        recovered = await runningOn(target, move.vmUuid);
        break;
      } catch (resumeError) {
        // libvirt reports the failure as soon as one side notices; the other QEMU may take a moment
        // to reach postcopy-paused, and until then libvirt refuses the resume.
        if (resumeNotReadyYet(resumeError) && Date.now() < resumeUntil) {
          log.debug({ err: (resumeError as Error).message, attempt: resumeAttempts }, 'post-copy recovery not possible yet');
          await sleep(RESUME_RETRY_INTERVAL_MS);
          continue;
        }
        log.error({ err: (resumeError as Error).message, attempts: resumeAttempts }, 'post-copy recovery failed');
        break;
      }
    }
    const incident = `post-copy failed after the switch (${message}); recovery ${recovered ? 'succeeded' : 'failed'} (${resumeAttempts} attempt${resumeAttempts === 1 ? '' : 's'}); VM is ${await describeVmOn(source, move.vmUuid)} on ${move.from} and ${await describeVmOn(target, move.vmUuid)} on ${move.to}`;
    log.error({ incident }, 'post-copy incident');
    return { ...base, outcome: recovered ? 'completed' : 'failed', totalMs: Date.now() - startedAtMs, switchedToPostcopy, error: message, incident, endedAtMs: Date.now() };
  }
  const stillOnSource = isActiveState(stateBefore) ? isActiveState(await stateOn(source, move.vmUuid)) : (await stateOn(source, move.vmUuid)) !== undefined;
  const incident = stillOnSource ? undefined : `the VM is ${await describeVmOn(source, move.vmUuid)} on ${move.from} and ${await describeVmOn(target, move.vmUuid)} on ${move.to}`;
  if (incident) log.error({ incident }, 'VM not running on the source after a failed migration');
  else log.warn({ err: message }, aborted ? 'migration aborted; VM still running on the source' : 'migration failed; VM still running on the source');
  return { ...base, outcome: aborted ? 'aborted' : 'failed', totalMs: endedAtMs - startedAtMs, switchedToPostcopy, iterations: lastIteration || undefined, error: aborted ? `aborted: ${deadlineSeconds} s deadline (${message})` : message, incident, endedAtMs };
}

/**
 * libvirt refuses VIR_MIGRATE_POSTCOPY_RESUME until both QEMUs are in postcopy-paused; these are its
 * words (libvirt 9.0, qemuMigrationSrcBeginResume and qemuMigrationAnyCanResume) for "not yet".
 */
export function resumeNotReadyYet(error: unknown): boolean {
  if (!(error instanceof LibvirtError) || error.code !== ErrorCode.OPERATION_INVALID) return false;
  return /migration is still running|has not failed/.test(error.message);
}

/**
 * Seconds a move may run before it is aborted: migration.deadlineSeconds of slack on top of the
 * move's predicted time (a move the planner predicts at 10 minutes is not aborted at 5; a large
 * local disk alone can outlast a deadline sized for memory). A prediction that does not converge
 * adds nothing: its time is the model's give-up point, not an expectation.
 */
export function deadlineSecondsFor(move: Pick<Move, 'copyStorage' | 'predicted'>, config: Pick<MigrationConfig, 'deadlineSeconds'>): number {
  const expected = move.predicted.converges || move.copyStorage ? Math.ceil(move.predicted.totalSeconds) : 0;
  return config.deadlineSeconds + (Number.isFinite(expected) ? expected : 0);
}

/** Record a result in the metrics. */
export function recordResult(metrics: Metrics | undefined, r: MigrationResult): void {
  if (!metrics) return;
  const tls = r.tls ? 'true' : 'false';
  metrics.migrationsTotal.inc({ technique: r.technique, outcome: r.outcome, tls });
  if (r.outcome !== 'completed') return;
  metrics.migrationDurationSeconds.observe({ technique: r.technique, tls }, r.totalMs / 1000);
  if (r.downtimeMs !== undefined) metrics.migrationDowntimeSeconds.observe({ technique: r.technique, tls }, r.downtimeMs / 1000);
  if (r.bytes !== undefined) metrics.migrationBytesTotal.inc({ technique: r.technique, tls }, r.bytes);
  const errorRatio = (actual: number | undefined, predicted: number) => (actual && actual > 0 ? Math.abs(actual - predicted) / actual : undefined);
  // A job adopted from a journal written before 'started' entries carried the prediction.
  if (r.predicted.totalSeconds === 0 && r.predicted.bytes === 0) return;
  const pairs: [string, number | undefined][] = [
    ['total_time', errorRatio(r.totalMs / 1000, r.predicted.totalSeconds)],
    ['downtime', errorRatio(r.downtimeMs, r.predicted.downtimeMs)],
    ['bytes', errorRatio(r.bytes, r.predicted.bytes)],
  ];
  for (const [quantity, value] of pairs) if (value !== undefined) metrics.migrationPredictionErrorRatio.observe({ technique: r.technique, quantity }, value);
}
