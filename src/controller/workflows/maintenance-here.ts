/**
 * A rolling maintenance run by the `maintenance` command itself: the state directory's lock held
 * for the whole roll (no daemon starts meanwhile), the roll chosen from the journal (resumed or
 * new), the hosts collected, and the steps run on the session's executor, journal and webhooks.
 * While it runs it serves the roll's metrics on metrics.listen (the daemon's address: the daemon
 * is stopped while a command holds the lock).
 *
 * A running daemon is refused ('daemon-running') rather than handed the roll: a roll lasts hours
 * and outlives restarts, which the one-request control socket does not carry.
 */
import type { Server } from 'node:http';
import type { MaintenanceJournalEntry } from '../../history/index.js';
import { createMetrics } from '../../metrics/catalog.js';
import { startMetricsServer } from '../../metrics/server.js';
import { daemonListens } from '../control-client.js';
import { RequestRefused } from '../errors.js';
import type { Session } from '../session.js';
import { chooseRoll, type RollRequest, type RollResult, runRoll } from './maintenance.js';
import { nextStep } from './maintenance-roll.js';
import { type DryRunHost, type DryRunStop, dryRunRoll } from './maintenance-dry-run.js';
import { liveRollSteps } from './maintenance-steps.js';

/**
 * Take the state directory's lock. @throws RequestRefused 'daemon-running' (with the fix) when a
 * daemon serves it, else what Session.lock throws.
 */
export async function lockForRoll(session: Session): Promise<void> {
  try {
    await session.lock('maintenance');
  } catch (error) {
    if (error instanceof RequestRefused && error.code === 'daemon-not-answering' && (await daemonListens(session.config.stateDir)))
      throw new RequestRefused(
        'daemon-running',
        `a daemon (virt-balancer run) serves the state directory ${session.config.stateDir}; a rolling maintenance runs without it: stop the daemon (e.g. systemctl stop virt-balancer), run maintenance, then start it again (a roll stopped midway is resumed by maintenance --resume)`,
      );
    throw error;
  }
}

/** The dry run's answer: the roll it would run (or resume), each remaining host's plan in order, and where it would stop. */
export interface MaintenanceDryRun {
  rollId: string;
  resumed: boolean;
  returnVms: boolean;
  hook?: string[];
  hookTimeoutSeconds: number;
  healthyTimeoutSeconds: number;
  hosts: DryRunHost[];
  /** Where the real roll would stop (the last of `hosts`); the command exits non-zero then. */
  stop?: DryRunStop;
}

/**
 * Run (or with `dryRun` only plan) the roll `request` asks for on the session's cluster.
 * `onEntry` tells each journaled step. @throws RequestRefused before anything moved.
 */
export async function maintenanceHere(
  session: Session,
  request: RollRequest & { dryRun?: boolean },
  onEntry?: (entry: MaintenanceJournalEntry, position?: { index: number; of: number }) => void,
): Promise<{ dryRun: MaintenanceDryRun } | { result: RollResult }> {
  const { config } = session;
  await session.checkStateDir({ create: !request.dryRun });
  if (!request.dryRun) await lockForRoll(session);
  const chosen = chooseRoll(
    await session.planningEntries(),
    request,
    config.hosts.map((h) => h.name),
  );
  const state = await session.collect({ sampleIntervalMs: 1000, withHistory: true });
  const ctx = await session.workflowContext();
  if (request.dryRun) {
    const { plan } = chosen.roll;
    const from = nextStep(chosen.roll)?.index ?? plan.hosts.length;
    return {
      dryRun: {
        rollId: plan.rollId,
        resumed: chosen.resumed,
        returnVms: plan.returnVms,
        ...(plan.hook ? { hook: plan.hook } : {}),
        hookTimeoutSeconds: config.maintenance.hookTimeoutSeconds,
        healthyTimeoutSeconds: config.maintenance.healthyTimeoutSeconds,
        ...(await dryRunRoll(ctx, state, chosen.roll, from)),
      },
    };
  }
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  let server: Server | undefined;
  if (config.metrics.listen)
    server = await startMetricsServer(config.metrics.listen, metrics.registry, () => ({ ok: true, detail: { maintenance: chosen.roll.plan.rollId } })).catch(
      (error: Error) => {
        session.logger.warn({ err: error.message }, 'maintenance: the metrics endpoint could not start; the roll goes on without it');
        return undefined;
      },
    );
  try {
    const steps = liveRollSteps(ctx, {
      hookTimeoutMs: config.maintenance.hookTimeoutSeconds * 1000,
      healthyTimeoutMs: config.maintenance.healthyTimeoutSeconds * 1000,
      retrySoon: (host) => session.retrySoon(host),
      setExpectedDown: (hosts) => session.setExpectedDown(hosts),
    });
    const notifier = session.notifier();
    const result = await runRoll(chosen, steps, {
      journal: session.journal(),
      notify: (event, data, atMs) => notifier.notify(event, data, atMs),
      metrics,
      onEntry,
    });
    return { result };
  } finally {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
