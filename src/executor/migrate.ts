/**
 * Running one move, in phases: start (start.ts), watch (watch.ts, shared with adoption), adapt
 * (adapt.ts), verify (verify.ts), recover (recover.ts). This file is the order they run in.
 *
 * Nothing is lost: after an abort or failure the VM must still run on the source, and that is
 * checked and reported; a post-copy that fails after the switch is recovered when libvirt can, or
 * reported as an incident with the VM's state on both hosts. Losing our link to the source says
 * nothing about the migration (libvirt carries a peer-to-peer job on without its client), so the
 * outcome is then read from libvirt through a new connection, never assumed.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import { ConnectionClosedError, LibvirtError, type LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import type { Move } from '../policy/plan-types.js';
import { Adapter } from './adapt.js';
import { type Ending, type EndingContext, endMove } from './ending.js';
import { resultBase, type MigrationProgress, type MigrationResult } from './result.js';
import { prepareMove, startCall, type PreparedMove, type StartedCall } from './start.js';
import { explainStorageCopyError } from './storage-copy.js';
import { explainMigrationTlsError } from './tls-errors.js';
import { heldBySource, placedOnTarget, viewOn } from './verify.js';
import { completedJobFigures, completedJobParams, isActiveState, num, sleep, stillOnSourceWording } from './vm-on-host.js';
import { watchJob } from './watch.js';

export type { MigrationProgress, MigrationResult, Outcome } from './result.js';
export { resumeNotReadyYet } from './recover.js';

/** How long a post-copy-from-the-start move retries its switch at a short interval (the target's prepare phase). */
const IMMEDIATE_SWITCH_FAST_RETRY_MS = 10_000;
const IMMEDIATE_SWITCH_RETRY_INTERVAL_MS = 50;
/**
 * After an abort (deadline, cancel), how long the migration call may take to return before the
 * move is ended with what libvirt says of the VM (issue 27 R8: a call that never returned held the
 * move, and `migrate`, for ever). libvirt ends an aborted job within seconds.
 */
export const ABORT_CALL_GRACE_MS = 60_000;
/** After our link to the source is lost, how long past the deadline we wait for the source to answer again. */
const LINK_LOST_WAIT_MS = 5 * 60_000;

export interface RunMigrationOptions {
  source: LibvirtConnection;
  target: LibvirtConnection;
  targetUri: string;
  /**
   * A host's current connection (the controller's host manager reopens lost ones); used to learn
   * what libvirt did after our link to the source was lost. Default: `source` and `target` while open.
   */
  connectionOf?: (host: string) => LibvirtConnection | undefined;
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
  /** True once the controller is shutting down: a watch that outlived the call stops (its result is not recorded). */
  stopped?: () => boolean;
  /** Encrypt the stream with QEMU's TLS (VIR_MIGRATE_TLS); migration-tls.ts decides from migration.tls. */
  tls?: boolean;
  /** The target's hosts[].migrationAddress: the stream goes there instead of the host part of targetUri. */
  targetMigrationAddress?: string;
  /** ABORT_CALL_GRACE_MS unless given (tests), ms. */
  abortGraceMs?: number;
}

/** A started move, as its phases see it: one context instead of each phase's list of parameters. */
interface MoveRun extends EndingContext {
  move: Move;
  options: RunMigrationOptions;
  prepared: PreparedMove;
  call: StartedCall;
  adapter: Adapter;
  deadlineSeconds: number;
  deadlineMs: number;
  /** Why to abort now (cancel, deadline), or undefined; never after a post-copy switch (the guest's memory is split between hosts). */
  abortReason: () => Promise<string | undefined>;
  onAbort: (why: string) => void;
}

/** Run `move` to its end; resolves with its outcome (never rejects for a migration that failed; rejects if the source cannot be asked about the VM at all). */
export async function runMigration(move: Move, options: RunMigrationOptions): Promise<MigrationResult> {
  const { source, target } = options;
  const ending: EndingContext = {
    base: { ...resultBase(move, Date.now()), tls: options.tls === true },
    connectionOf: options.connectionOf ?? ((host: string) => (host === move.from ? source : host === move.to ? target : undefined)),
    targetUri: options.targetUri,
    log: options.logger.child({ vm: move.vmName, from: move.from, to: move.to, technique: move.technique }),
    metrics: options.metrics,
  };
  const prepared = await prepareMove(move, options);
  if ('refused' in prepared) {
    ending.log.warn({ err: prepared.refused }, 'move refused');
    return await endMove(ending, { failed: { error: prepared.refused, notStarted: true } });
  }
  const call = await startCall(move, prepared, { source, targetUri: options.targetUri, config: options.config, log: ending.log });
  options.metrics?.migrationsInFlight.inc();
  try {
    const run = running(move, options, ending, prepared, call);
    return await endMove(run, await watchToEnd(run));
  } finally {
    options.metrics?.migrationsInFlight.dec();
    call.release();
  }
}

/** The started move's context: its adapter, its deadline and when to abort. */
function running(move: Move, options: RunMigrationOptions, ending: EndingContext, prepared: PreparedMove, call: StartedCall): MoveRun {
  const { config, onProgress, onAdapt, downtimeBudgetMs } = options;
  const { recipe } = prepared;
  const startedAtMs = ending.base.startedAtMs;
  const adapter = new Adapter({ recipe, config, downtimeBudgetMs, startedAtMs, log: ending.log, onProgress, onAdapt });
  const deadlineSeconds = deadlineSecondsFor(move, config);
  const deadlineMs = startedAtMs + deadlineSeconds * 1000;
  let cancelled = false;
  void options.cancel?.then(() => (cancelled = true));
  const abortReason = async () =>
    adapter.switchedToPostcopy ? undefined : cancelled ? 'cancelled' : Date.now() >= deadlineMs ? `deadline of ${deadlineSeconds} s reached` : undefined;
  const onAbort = (why: string) => options.onAdapt?.('abort', why);
  return { ...ending, move, options, prepared, call, recipe, stateBefore: prepared.stateBefore, adapter, deadlineSeconds, deadlineMs, abortReason, onAbort };
}

/** Watch the call to its end, then hand over to the phase that reads how it ended. */
async function watchToEnd(run: MoveRun): Promise<Ending> {
  const { move, options, prepared, call, adapter, log } = run;
  const { source } = options;
  if (prepared.recipe.postcopy.mode === 'immediately') await switchAtOnce(run);
  const watched = await watchJob({
    connectionOf: () => source,
    vmUuid: move.vmUuid,
    known: { conn: source, dom: prepared.dom },
    pollIntervalMs: options.config.pollIntervalMs,
    log,
    until: call.finished,
    wake: call.settled,
    untilOnly: true,
    onSample: (p, c, d) => adapter.onSample(p, c, d),
    abortReason: run.abortReason,
    onAbort: run.onAbort,
    abortGraceMs: options.abortGraceMs ?? ABORT_CALL_GRACE_MS,
  });
  if (watched.end === 'callUnanswered') return await unansweredAfterAbort(run, watched.abortedWhy!);
  const result = await call.settled;
  if (result.ok) return await verifyCompleted(run);
  const error = result.error;
  const raw = error instanceof LibvirtError ? `${error.codeName}: ${error.message}` : ((error as Error)?.message ?? String(error));
  // Our link to the source is gone, not necessarily the migration: ask libvirt again.
  if (error instanceof ConnectionClosedError) return await afterLinkLost(run, raw, watched.abortedWhy);
  return await afterFailedCall(run, raw, watched.abortedWhy);
}

/**
 * libvirt's job exists while the target is still being prepared, and QEMU refuses the switch
 * ("Enable postcopy with migrate_set_capability before the start of migration") until libvirt has
 * started QEMU's migration with the post-copy capability: retry at a short interval for a while,
 * then the adapter retries at every poll of the watch.
 */
async function switchAtOnce({ adapter, call, prepared, options: { source } }: MoveRun): Promise<void> {
  const until = Date.now() + IMMEDIATE_SWITCH_FAST_RETRY_MS;
  while (!call.finished() && !adapter.switchedToPostcopy && Date.now() < until) {
    const job = await source.domainGetJobStats(prepared.dom, 0).catch(() => undefined);
    if (job && job.type !== 0) await adapter.switchToPostcopy(source, prepared.dom, 'technique is post-copy');
    if (!adapter.switchedToPostcopy) await Promise.race([call.settled, sleep(IMMEDIATE_SWITCH_RETRY_INTERVAL_MS)]);
  }
}

/**
 * The abort was sent and the migration call has not returned within the grace: the move ends now
 * with what libvirt says of the VM on both hosts (its outcome from where the VM is); the call's
 * late answer, if one ever comes, is dropped.
 */
async function unansweredAfterAbort(run: MoveRun, abortedWhy: string): Promise<Ending> {
  const { move, connectionOf } = run;
  const graceSeconds = (run.options.abortGraceMs ?? ABORT_CALL_GRACE_MS) / 1000;
  const [onSource, onTarget] = [await viewOn(connectionOf(move.from), move.vmUuid), await viewOn(connectionOf(move.to), move.vmUuid)];
  const said = `the migration call did not return within ${graceSeconds} s of the abort; libvirt says the VM is ${onSource.description} on ${move.from} and ${onTarget.description} on ${move.to}`;
  run.log.error({ abortedWhy, said }, 'migration call unanswered after the abort; ending the move with what libvirt says of the VM');
  run.options.onAdapt?.('call-unanswered', said);
  return { placement: { abortedWhy, unseenWhy: said, alsoSay: said } };
}

/** The call returned success: read libvirt's real figures and check the VM is where the move leaves it. */
async function verifyCompleted({ move, options: { source, target }, prepared, call, base, log }: MoveRun): Promise<Ending> {
  const endedAtMs = Date.now();
  // Real figures: the job-completed event, else the destination's completed-job stats.
  for (let i = 0; i < 20 && !call.completedParams(); i++) await sleep(50);
  const p = call.completedParams() ?? (await completedJobParams(target, move.vmUuid)) ?? {};
  const figures = { ...completedJobFigures(p, endedAtMs - base.startedAtMs), diskBytes: prepared.disks.length > 0 ? num(p, 'disk_processed') : undefined };
  const [targetView, sourceView] = [await viewOn(target, move.vmUuid), await viewOn(source, move.vmUuid)];
  if (!placedOnTarget(move.technique, prepared.stateBefore, targetView) || isActiveState(sourceView.state)) {
    const incident = `after completion the VM is ${targetView.description} on ${move.to} and ${sourceView.description} on ${move.from}`;
    log.error({ incident }, 'migration reported success but verification failed');
    return { completed: figures, endedAtMs, incident };
  }
  log.info({ ...figures }, 'migration completed');
  return { completed: figures, endedAtMs };
}

/** The call failed because our link to the source was lost: watch the job through a new connection and read how it ended. */
async function afterLinkLost(run: MoveRun, raw: string, abortedBefore: string | undefined): Promise<Ending> {
  const { move, options, prepared, adapter, log } = run;
  const why = `the link to ${move.from} was lost mid-move (${raw})`;
  log.warn({ why }, 'lost the link to the source; watching the job through a new connection');
  options.onAdapt?.('link-lost', why);
  const again = await watchJob({
    connectionOf: () => run.connectionOf(move.from),
    vmUuid: move.vmUuid,
    known: { conn: options.source, dom: prepared.dom },
    pollIntervalMs: options.config.pollIntervalMs,
    log,
    detectPostcopyFailure: true,
    giveUpAtMs: Math.max(run.deadlineMs, Date.now()) + LINK_LOST_WAIT_MS,
    stopped: options.stopped,
    onSample: (p, c, d) => adapter.onSample(p, c, d),
    abortReason: abortedBefore ? undefined : run.abortReason,
    onAbort: run.onAbort,
  });
  const { switchedToPostcopy } = adapter;
  if (again.end === 'stopped') return { failed: { error: `${why}; the controller stopped before the outcome was known`, switchedToPostcopy } };
  if (again.end === 'postcopyFailed') return { postcopyFailed: `${why}; the post-copy then failed` };
  if (again.end === 'unreachable') {
    const incident = `outcome unknown: ${move.from} has not answered since ${why}; the VM is ${(await viewOn(run.connectionOf(move.to), move.vmUuid)).description} on ${move.to}`;
    log.error({ incident }, 'migration outcome unknown');
    return { failed: { error: why, incident, switchedToPostcopy, iterations: adapter.lastIteration || undefined } };
  }
  return { placement: { abortedWhy: abortedBefore ?? again.abortedWhy, unseenWhy: `${why}; libvirt ended the migration without moving the VM` } };
}

/** libvirt's call failed: recover a post-copy, else check the VM is still held by the source. */
async function afterFailedCall(run: MoveRun, raw: string, abortedWhy: string | undefined): Promise<Ending> {
  const { move, options, prepared, adapter, log } = run;
  // libvirt's own words stay at the end: they are what its docs and bug trackers are searched by.
  const storage = { vm: move.vmName, targetHost: move.to, disks: prepared.disks };
  const explained =
    (prepared.disks.length > 0 ? explainStorageCopyError(raw, storage) : undefined) ??
    explainMigrationTlsError(raw, { vm: move.vmName, from: move.from, to: move.to, tls: options.tls === true });
  const message = explained ? `${explained} (libvirt: ${raw})` : raw;
  if (adapter.switchedToPostcopy) return { postcopyFailed: message };
  const outcome = abortedWhy ? 'aborted' : 'failed';
  const iterations = adapter.lastIteration || undefined;
  const sourceView = await viewOn(options.source, move.vmUuid);
  if (!heldBySource(prepared.stateBefore, sourceView)) {
    const incident = `the VM is ${sourceView.description} on ${move.from} and ${(await viewOn(options.target, move.vmUuid)).description} on ${move.to}`;
    log.error({ incident }, 'VM not running on the source after a failed migration');
    return { failed: { error: message, incident, outcome, iterations } };
  }
  log.warn({ err: message }, stillOnSourceWording(Boolean(abortedWhy), sourceView.state));
  // The journal's and history's wording since wave 1: 'aborted: N s deadline (libvirt's words)'.
  const deadline = `${run.deadlineSeconds} s deadline`;
  return { failed: { error: abortedWhy ? `aborted: ${abortedWhy === 'cancelled' ? 'cancelled' : deadline} (${message})` : message, outcome, iterations } };
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
