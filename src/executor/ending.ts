/**
 * How a move ended, as its phases found it, and the one place that turns that into the move's
 * result (result.ts's shapes): a failure as found, a completion with libvirt's figures, a post-copy
 * that failed after the switch (recover.ts), or an outcome to be read from where the VM is
 * (verify.ts).
 */
import type { LibvirtConnection } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { recoverPostcopy } from './recover.js';
import { failedResult, type MigrationResult, type ResultBase } from './result.js';
import type { MigrationRecipe } from './technique-params.js';
import { outcomeFromPlacement } from './verify.js';
import type { completedJobFigures } from './vm-on-host.js';

/** The fields of a failure as its phase found them (result.ts `failedResult`). */
export type FailedFields = Parameters<typeof failedResult>[1];

/** What a phase found at the move's end; `endMove` builds the result from it. */
export type Ending =
  | { failed: FailedFields }
  /** The call returned success; `incident` when the VM was then not where the move leaves it. */
  | { completed: ReturnType<typeof completedJobFigures> & { diskBytes?: number }; endedAtMs: number; incident?: string }
  /** A post-copy failed after the switch: what failed. */
  | { postcopyFailed: string }
  /** The call's own result was not seen: read the outcome from where the VM is; `alsoSay` is added to its error. */
  | { placement: { abortedWhy?: string; unseenWhy: string; alsoSay?: string } };

/** What ending a move needs to know of it. `recipe`, `stateBefore` and `adapter` are absent for a move refused before its start. */
export interface EndingContext {
  base: ResultBase;
  connectionOf: (host: string) => LibvirtConnection | undefined;
  targetUri: string;
  log: Logger;
  metrics?: Metrics;
  recipe?: MigrationRecipe;
  stateBefore?: number;
  /** The adapter's view of the job: whether post-copy was switched to, the last pre-copy iteration (0: none seen). */
  adapter?: { switchedToPostcopy: boolean; lastIteration: number };
}

/** The one place a move's result is built. */
export async function endMove(run: EndingContext, ending: Ending): Promise<MigrationResult> {
  const { base, log } = run;
  const switchedToPostcopy = run.adapter?.switchedToPostcopy ?? false;
  if ('failed' in ending) return failedResult(base, ending.failed);
  if ('completed' in ending) {
    const { completed: figures, endedAtMs, incident } = ending;
    if (incident) return { ...base, ...figures, outcome: 'failed', switchedToPostcopy, error: 'verification failed', incident, endedAtMs };
    return { ...base, ...figures, outcome: 'completed', switchedToPostcopy, endedAtMs };
  }
  const { connectionOf, targetUri, metrics } = run;
  if ('postcopyFailed' in ending)
    return await recoverPostcopy({ base, connectionOf, targetUri, recipe: run.recipe!, failure: ending.postcopyFailed, log, metrics });
  const { abortedWhy, unseenWhy, alsoSay } = ending.placement;
  const iterations = run.adapter?.lastIteration || undefined;
  const result = await outcomeFromPlacement({ base, connectionOf, stateBefore: run.stateBefore, switchedToPostcopy, iterations, abortedWhy, unseenWhy, log });
  return alsoSay && result.error && !result.error.includes(alsoSay) ? { ...result, error: `${result.error}; ${alsoSay}` } : result;
}
