/** How `migrate` and `drain` print moves: the prediction before, a progress bar during, the result after. */
import { SingleBar } from 'cli-progress';
import type { VmObservation } from '../cluster/model.js';
import type { ControlEvent } from '../controller/control-protocol.js';
import type { DrainOutcome } from '../controller/workflows/drain.js';
import { resultSummary, type MigrationProgress, type MigrationResult } from '../executor/index.js';
import type { Move } from '../policy/index.js';
import { table } from './format.js';
import { err } from './output.js';

/** One result as `migrate --json` prints it. */
export function resultJson(r: MigrationResult) {
  return { ...resultSummary(r), ...(r.diskBytes !== undefined ? { diskBytes: r.diskBytes } : {}) };
}

/** The line `migrate` says before it starts: technique and what it predicts, on what link. */
export function describePlannedMove(vm: Pick<VmObservation, 'name' | 'host'>, move: Move): string {
  const p = move.predicted;
  return `${vm.name}: ${vm.host} -> ${move.to} with ${move.technique} (predicted ${p.totalSeconds.toFixed(1)} s, ${p.downtimeMs.toFixed(0)} ms downtime, ${(p.bytes / 2 ** 20).toFixed(0)} MiB at ${move.inputs.bandwidthMiBps.toFixed(0)} MiB/s${move.inputs.bandwidthMeasured ? ' as measured on recent migrations' : ''}${p.converges ? '' : '; predicted NOT to converge'})\n`;
}

/** The result as `migrate` prints it: outcome, time, downtime, bytes, and the error or incident. */
export function describeResult(result: MigrationResult): string {
  return (
    `${result.outcome}: ${result.vm} ${result.from} -> ${result.to} (${result.technique}) in ${(result.totalMs / 1000).toFixed(2)} s, downtime ${result.downtimeMs ?? '?'} ms, ${result.bytes !== undefined ? (result.bytes / 2 ** 20).toFixed(0) : '?'} MiB` +
    `${result.error ? `\n  ${result.error}` : ''}${result.incident ? `\n  INCIDENT: ${result.incident}` : ''}\n`
  );
}

/** A progress bar on stderr when it is a terminal (undefined otherwise): call the result with each progress, then with undefined to stop. */
export function progressBar(): ((p: MigrationProgress | undefined) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new SingleBar({
    format: ' {bar} {percentage}% | {mibps} MiB/s | iteration {iteration} | {phase} | ETA {eta_s}s',
    stream: process.stderr,
    hideCursor: true,
  });
  bar.start(100, 0, { mibps: '0', iteration: 0, phase: 'precopy', eta_s: '?' });
  return (p) => {
    if (!p) return bar.stop();
    bar.update(Math.round(p.percent), {
      mibps: p.mibps.toFixed(0),
      iteration: p.iteration,
      phase: p.phase,
      eta_s: p.etaSeconds === undefined ? '?' : p.etaSeconds.toFixed(0),
    });
  };
}

/** The drain's results as a table, then what was not moved and the rules it could not keep. */
export function renderDrain(outcome: DrainOutcome): string {
  const lines = [
    table(
      ['vm', 'to', 'technique', 'outcome', 'seconds', 'downtime ms'],
      outcome.results.map((r) => [r.vm, r.to, r.technique, r.outcome, (r.totalMs / 1000).toFixed(1), String(r.downtimeMs ?? '')]),
    ),
    ...outcome.plan.skipped.map((s) => `not moved: ${s.vmName}: ${s.reason}`),
    // A rule the drain could not keep (an affinity group no single host holds, moved as a best effort).
    ...(outcome.plan.notices ?? []).map((n) => `NOTICE (${n.source}): ${n.message}`),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The daemon's progress on a migrate request, shown as the command's own would be: the planned
 * move's line, then the progress bar. True when the event was shown here.
 */
export function daemonProgress(
  event: Extract<ControlEvent, { type: 'progress' }>,
  json: boolean | undefined,
  bar: ((p: MigrationProgress | undefined) => void) | undefined,
): boolean {
  if (event.kind === 'planned') {
    const { vm, move } = event.data as { vm: Pick<VmObservation, 'name' | 'host'>; move: Move };
    if (!json) err(describePlannedMove(vm, move));
    return true;
  }
  if (event.kind === 'migration') {
    bar?.(event.data as MigrationProgress);
    return true;
  }
  return false;
}
