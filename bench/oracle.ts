/**
 * The oracle benchmark (issue 31): is the technique chooser right? A grid of lab workloads
 * (guest memory x working set x dirty rate from 0.1x to 3x the cap x bandwidth cap); in each cell
 * one guest is moved back and forth between two lab hosts once with every technique the
 * capability table allows on libvirt 11.3 / QEMU 10.0, by the executor (src/executor) under the
 * same cap and deadline. The chooser (src/policy/chooser.ts) picks from what the collector would
 * see before the cell's first move (the guest's resident memory, libvirt's dirty-rate
 * calculation); the oracle is the technique whose *real* figures cost least under the chooser's
 * own cost (total time + weighted downtime + its post-copy and throttle terms), and the regret is
 * what the pick really cost over that. A pick that did not converge or lost the guest has no
 * finite cost: it is a miss whatever the numbers.
 *
 * Beside the regret, every run is scored for prediction error: the chooser's uncalibrated
 * prediction for that technique against the real time and downtime, and calibrated leave-one-out
 * from the other cells' runs of the same technique (policy/calibration.ts), as the controller
 * would after a few moves.
 *
 * Writes bench/results/oracle-<timestamp>.{md,json,svg} itself (the full report gets the same
 * Markdown through bench/run.ts).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import type { TopLevelSpec } from 'vega-lite';
import { z } from 'zod';
import { Lab } from '../lab/lab.js';
import { runSingleMove } from '../src/executor/index.js';
import { PredictionCalibration } from '../src/policy/calibration.js';
import { memoryToMoveBytes } from '../src/policy/move-inputs.js';
import { DEFAULT_CONFIG } from '../src/policy/planning.js';
import { chooseTechnique, DEFAULT_TUNABLES, predictTechnique, TECHNIQUES } from '../src/policy/index.js';
import type { Technique } from '../src/policy/plan-types.js';
import { median } from './traces/metrics.js';

const execFileAsync = promisify(execFile);
const ORACLE_TITLE = 'Technique choice against an oracle';
export const DEFAULT_ORACLE_INPUTS = join(import.meta.dirname, 'inputs', 'oracle.json');
const MiB = 1048576;

const cellSchema = z.object({
  memoryMiB: z.number().positive(),
  /** Memory the workload rewrites (vb.workload), MiB. */
  workloadMiB: z.number().positive(),
  /** Dirty rate set on the guest as a multiple of the cap (vb.dirty = ratio x cap). */
  dirtyRatio: z.number().min(0),
  capMiBps: z.number().positive(),
});
const inputsSchema = z.object({
  description: z.string().optional(),
  labDir: z.string(),
  labAddressPrefix: z.string(),
  labDownAfter: z.boolean(),
  hosts: z.tuple([z.string(), z.string()]),
  downtimeBudgetMs: z.number().positive(),
  deadlineSeconds: z.number().positive(),
  vcpus: z.number().int().positive(),
  cpuBusyPercent: z.number().min(0).max(100),
  /** Seconds the workload runs before the first measurement (it needs a few to reach its rate). */
  settleSeconds: z.number().min(0),
  techniques: z.array(z.enum(TECHNIQUES)).min(2),
  cells: z.array(cellSchema).min(1),
});
export type OracleInputs = z.infer<typeof inputsSchema>;
export type OracleCell = z.infer<typeof cellSchema>;

/** One technique run on one cell's guest. */
export interface OracleRun {
  cell: number;
  technique: Technique;
  from: string;
  to: string;
  converged: boolean;
  totalSeconds: number;
  downtimeMs?: number;
  bytes?: number;
  intact: boolean;
  /** What the collector would have seen just before this move. */
  measuredDirtyRateMiBps?: number;
  rssMiB?: number;
  /** What the controller's history held of the guest before this move: its memory that was not zero pages at its last move (the cell's previous run), MiB. */
  lastMoveNonzeroMiB?: number;
  /** libvirt's memory_total less memory_constant pages of this move (vm-on-host.ts completedJobFigures), MiB. */
  nonzeroMemoryMiB?: number;
  /** The model's prediction for this technique from those measurements (uncalibrated). */
  predicted: { totalSeconds: number; downtimeMs: number; bytes: number; converges: boolean; postcopySeconds?: number; meanThrottle?: number };
  /** Real cost under the chooser's cost; Infinity when not converged or the guest was lost. */
  cost: number;
  error?: string;
}

export interface OracleCellResult {
  cell: number;
  spec: OracleCell;
  measuredDirtyRateMiBps?: number;
  rssMiB?: number;
  /** What the chooser was given (so a changed chooser can be scored on the same runs). */
  chooserInput: ReturnType<typeof chooserInput>;
  pick: Technique;
  pickPredictedConverges: boolean;
  best?: Technique;
  bestCost?: number;
  pickCost: number;
  /** (pick cost - best cost) / best cost; Infinity for a pick that did not converge or lost the guest. */
  regret: number;
  runs: OracleRun[];
}

/**
 * The chooser's cost (chooser.ts predictTechnique's finish()) applied to what really happened:
 * total seconds + downtimeWeight x downtime seconds + the technique's own term. Post-copy's
 * exposure and auto-converge's throttle are not visible from outside the job, so the model's share
 * of them is scaled by the real / predicted total time. Infinity for a run that did not converge
 * or lost the guest: that is no result at any price.
 */
export function realCost(
  technique: Technique,
  real: { converged: boolean; intact: boolean; totalSeconds: number; downtimeMs?: number },
  predicted: { totalSeconds: number; postcopySeconds?: number; meanThrottle?: number },
  t = DEFAULT_TUNABLES,
): number {
  if (!real.converged || !real.intact || !Number.isFinite(real.totalSeconds)) return Number.POSITIVE_INFINITY;
  const scale = predicted.totalSeconds > 0 ? real.totalSeconds / predicted.totalSeconds : 1;
  let extra = 0;
  if (technique === 'postcopy' || technique === 'hybrid')
    extra = t.postcopyRiskWeight * (predicted.postcopySeconds ?? 0) * scale + t.postcopyFixedPenaltySeconds;
  else if (technique === 'xbzrle') extra = t.xbzrleOverheadSeconds;
  else if (technique === 'autoconverge') extra = t.throttleWeight * (predicted.meanThrottle ?? 0) * real.totalSeconds;
  return real.totalSeconds + t.downtimeWeight * ((real.downtimeMs ?? 0) / 1000) + extra;
}

/** Oracle and regret of one cell from its runs. */
export function scoreCell(runs: readonly OracleRun[], pick: Technique): { best?: Technique; bestCost?: number; pickCost: number; regret: number } {
  const finite = runs.filter((r) => Number.isFinite(r.cost)).sort((a, b) => a.cost - b.cost);
  const best = finite[0];
  const pickRun = runs.find((r) => r.technique === pick);
  const pickCost = pickRun?.cost ?? Number.POSITIVE_INFINITY;
  const regret = best ? (Number.isFinite(pickCost) ? (pickCost - best.cost) / best.cost : Number.POSITIVE_INFINITY) : 0;
  return { best: best?.technique, bestCost: best?.cost, pickCost, regret };
}

async function virsh(uri: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await execFileAsync('virsh', ['-c', uri, ...args], { timeout: timeoutMs });
  return stdout;
}

/** What the collector sees: libvirt's dirty-rate calculation (1 s) and the balloon's RSS. */
async function observe(uri: string, vmName: string): Promise<{ dirtyRateMiBps?: number; rssMiB?: number }> {
  let dirtyRateMiBps: number | undefined;
  let rssMiB: number | undefined;
  try {
    await virsh(uri, ['domdirtyrate-calc', vmName, '--seconds', '1']);
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await virsh(uri, ['domstats', '--dirtyrate', '--balloon', vmName]);
    const d = /dirtyrate\.megabytes_per_second=(\d+)/.exec(stats);
    const rss = /balloon\.rss=(\d+)/.exec(stats);
    dirtyRateMiBps = d ? Number(d[1]) : undefined;
    rssMiB = rss ? Number(rss[1]) / 1024 : undefined;
  } catch {
    /* unmeasured: the chooser gets the set rate and full memory */
  }
  return { dirtyRateMiBps, rssMiB };
}

/** What a run records of the model's prediction (OracleRun.predicted); one shape for the bench and its replay. */
export function recordedPrediction(p: ReturnType<typeof predictTechnique>): OracleRun['predicted'] {
  return {
    totalSeconds: p.totalSeconds,
    downtimeMs: p.downtimeMs,
    bytes: p.bytes,
    converges: p.converges,
    postcopySeconds: p.postcopySeconds,
    meanThrottle: p.meanThrottle,
  };
}

/**
 * What the chooser is told about a cell's guest from what the collector saw just before a move
 * (libvirt's dirty-rate calculation, the balloon's RSS) and the cell's configured memory and cap;
 * exported so bench/oracle-replay.ts rebuilds the same inputs from a saved run.
 */
export function chooserInput(
  cell: OracleCell,
  seen: { dirtyRateMiBps?: number; rssMiB?: number; lastMoveNonzeroMiB?: number },
  inputs: Pick<OracleInputs, 'downtimeBudgetMs' | 'deadlineSeconds' | 'techniques'>,
) {
  // As moveInputs does for a pair never measured: the memory that must move (the guest's last move's
  // non-zero memory, else its RSS when smaller than its memory), the measured dirty rate, the cap,
  // and the policy's assumed link beside it.
  const assumedLinkMiBps = DEFAULT_CONFIG.bandwidthMiBps;
  return {
    memoryBytes: memoryToMoveBytes(
      cell.memoryMiB * MiB,
      seen.rssMiB === undefined ? undefined : seen.rssMiB * MiB,
      seen.lastMoveNonzeroMiB === undefined ? undefined : seen.lastMoveNonzeroMiB * MiB,
    ),
    dirtyRateMiBps: seen.dirtyRateMiBps ?? cell.dirtyRatio * cell.capMiBps,
    bandwidthMiBps: Math.min(assumedLinkMiBps, cell.capMiBps),
    linkMiBps: assumedLinkMiBps,
    downtimeBudgetMs: inputs.downtimeBudgetMs,
    deadlineSeconds: inputs.deadlineSeconds,
    allowed: inputs.techniques,
  };
}

async function intactAfter(lab: Lab, vmName: string, afterSeq: number): Promise<boolean> {
  try {
    const hb = await lab.waitForHeartbeat(vmName, { afterSeq, timeoutMs: 15_000 });
    const last = await lab.heartbeat(vmName).catch(() => undefined);
    return hb.status === 'OK' && !last?.panicked;
  } catch {
    return false;
  }
}

async function runCell(lab: Lab, index: number, cell: OracleCell, inputs: OracleInputs, log: (line: string) => void): Promise<OracleCellResult> {
  const vmName = `oracle-${index}`;
  const hostByName = (name: string) => lab.hosts.find((h) => h.name === name)!;
  const create = async (host: string) => {
    await lab.createVm({
      name: vmName,
      host,
      vcpus: inputs.vcpus,
      memoryMiB: cell.memoryMiB,
      cpuBusyPercent: inputs.cpuBusyPercent,
      dirtyMiBps: Math.round(cell.dirtyRatio * cell.capMiBps),
      workloadMiB: cell.workloadMiB,
    });
    await new Promise((r) => setTimeout(r, inputs.settleSeconds * 1000));
  };
  let where = inputs.hosts[0];
  try {
    await create(where);
  } catch (error) {
    // A guest that never booted (too little memory for its working set, say) is not left behind.
    await lab.destroyVm(vmName).catch(() => {});
    throw error;
  }
  const first = await observe(hostByName(where).uri, vmName);
  const firstInput = chooserInput(cell, first, inputs);
  const choice = chooseTechnique(firstInput);
  log(
    `oracle: cell ${index} (${cell.memoryMiB} MiB, ws ${cell.workloadMiB}, dirty ${cell.dirtyRatio}x, cap ${cell.capMiBps}): measured ${first.dirtyRateMiBps ?? '?'} MiB/s, rss ${first.rssMiB?.toFixed(0) ?? '?'} MiB; pick ${choice.technique}`,
  );
  const runs: OracleRun[] = [];
  // The controller's history of the guest: its last completed move's non-zero memory (none before the first).
  let lastMoveNonzeroMiB: number | undefined;
  try {
    for (const technique of inputs.techniques) {
      const from = where;
      const to = inputs.hosts.find((h) => h !== from)!;
      const seen = { ...(runs.length === 0 ? first : await observe(hostByName(from).uri, vmName)), lastMoveNonzeroMiB };
      const input = chooserInput(cell, seen, inputs);
      const p = predictTechnique(technique, input);
      const predicted = recordedPrediction(p);
      let run: OracleRun;
      try {
        const before = await lab.heartbeat(vmName);
        // The executor's deadline is the prediction plus slack; here every technique gets the same
        // wall-clock deadline, so the prediction is handed over as not converging (adds nothing).
        const outcome = await runSingleMove(
          {
            vmName,
            from,
            to,
            technique,
            predicted: { totalSeconds: predicted.totalSeconds, downtimeMs: predicted.downtimeMs, bytes: predicted.bytes, converges: false },
            inputs: {
              memoryBytes: input.memoryBytes,
              dirtyRateMiBps: input.dirtyRateMiBps,
              bandwidthMiBps: input.bandwidthMiBps,
              downtimeBudgetMs: inputs.downtimeBudgetMs,
            },
          },
          {
            fromUri: hostByName(from).uri,
            toUri: hostByName(to).uri,
            bandwidthMiBps: cell.capMiBps,
            deadlineSeconds: inputs.deadlineSeconds,
            downtimeBudgetMs: inputs.downtimeBudgetMs,
          },
        );
        const intact = await intactAfter(lab, vmName, before.seq);
        where = (await lab.whereIs(vmName)) ?? from;
        const real = { converged: outcome.ok, intact, totalSeconds: outcome.totalSeconds, downtimeMs: outcome.downtimeMs };
        run = {
          cell: index,
          technique,
          from,
          to,
          ...real,
          bytes: outcome.bytes,
          measuredDirtyRateMiBps: seen.dirtyRateMiBps,
          rssMiB: seen.rssMiB,
          lastMoveNonzeroMiB,
          nonzeroMemoryMiB: outcome.nonzeroMemoryBytes === undefined ? undefined : outcome.nonzeroMemoryBytes / MiB,
          predicted,
          cost: realCost(technique, real, predicted),
          error: outcome.error,
        };
      } catch (error) {
        run = {
          cell: index,
          technique,
          from,
          to,
          converged: false,
          totalSeconds: Number.NaN,
          intact: false,
          predicted,
          cost: Number.POSITIVE_INFINITY,
          error: (error as Error).message.split('\n')[0],
        };
      }
      runs.push(run);
      if (run.converged && run.nonzeroMemoryMiB !== undefined) lastMoveNonzeroMiB = run.nonzeroMemoryMiB;
      log(
        `oracle: cell ${index} ${technique}: ${run.converged ? 'converged' : 'NOT converged'} in ${run.totalSeconds.toFixed(1)} s (predicted ${predicted.totalSeconds.toFixed(1)}), downtime ${run.downtimeMs ?? 'n/a'} ms (predicted ${predicted.downtimeMs.toFixed(0)}), ${run.intact ? 'intact' : 'GUEST LOST'}${run.error ? ` — ${run.error}` : ''}`,
      );
      if (!run.intact) {
        // A lost guest would poison the next technique's run: start a fresh one.
        await lab.destroyVm(vmName).catch(() => {});
        where = inputs.hosts[0];
        await create(where);
        lastMoveNonzeroMiB = undefined;
      }
    }
  } finally {
    await lab.destroyVm(vmName).catch(() => {});
  }
  const score = scoreCell(runs, choice.technique);
  return {
    cell: index,
    spec: cell,
    measuredDirtyRateMiBps: first.dirtyRateMiBps,
    rssMiB: first.rssMiB,
    chooserInput: firstInput,
    pick: choice.technique,
    pickPredictedConverges: choice.predicted.converges,
    ...score,
    runs,
  };
}

const fmt = (v: number | undefined, digits = 1) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '∞');

/** One row per cell: the pick, the oracle, the regret, then each technique's real figures. */
export function cellsTable(cells: readonly OracleCellResult[], techniques: readonly Technique[]): string {
  const head = ['cell', 'memory MiB', 'working set MiB', 'cap MiB/s', 'dirty set (x cap)', 'dirty measured (x cap)', 'pick', 'oracle', 'regret'];
  const rows = [
    `| ${[...head, ...techniques.map((t) => `${t}: s / downtime ms / MiB`)].join(' | ')} |`,
    `|${[...head, ...techniques].map(() => '---').join('|')}|`,
  ];
  for (const c of cells) {
    const per = techniques.map((t) => {
      const r = c.runs.find((x) => x.technique === t);
      if (!r) return 'n/a';
      const flags = `${r.converged ? '' : ' **no conv.**'}${r.intact ? '' : ' **lost**'}`;
      return `${fmt(r.totalSeconds, 1)} / ${fmt(r.downtimeMs, 0)} / ${fmt(r.bytes === undefined ? undefined : r.bytes / MiB, 0)}${flags}`;
    });
    const dirty = c.measuredDirtyRateMiBps;
    rows.push(
      `| ${[
        c.cell,
        c.spec.memoryMiB,
        c.spec.workloadMiB,
        c.spec.capMiBps,
        c.spec.dirtyRatio,
        dirty === undefined ? 'n/a' : `${dirty} (${(dirty / c.spec.capMiBps).toFixed(2)})`,
        c.pick,
        c.best ?? 'none',
        pct(c.regret),
        ...per,
      ].join(' | ')} |`,
    );
  }
  return rows.join('\n');
}

/** Headline figures against issue 31's targets. */
export function oracleSummary(cells: readonly OracleCellResult[]): {
  cells: number;
  nonConvergingPicks: number;
  regretWithin10Percent: number;
  shareWithin10Percent: number;
  lostGuests: number;
  runs: number;
} {
  const nonConvergingPicks = cells.filter((c) => {
    const r = c.runs.find((x) => x.technique === c.pick);
    return !r?.converged;
  }).length;
  const within = cells.filter((c) => c.regret <= 0.1).length;
  const all = cells.flatMap((c) => c.runs);
  return {
    cells: cells.length,
    nonConvergingPicks,
    regretWithin10Percent: within,
    shareWithin10Percent: cells.length ? within / cells.length : 0,
    lostGuests: all.filter((r) => !r.intact).length,
    runs: all.length,
  };
}

const relError = (actual: number, predicted: number) => Math.abs(actual - predicted) / actual;

export interface PredictionErrorRow {
  technique: string;
  runs: number;
  medianTimeErrorModel: number;
  medianTimeErrorCalibrated?: number;
  /** Median real / predicted downtime, model and calibrated. */
  medianDowntimeRatioModel?: number;
  medianDowntimeRatioCalibrated?: number;
}

/** One converged intact run's prediction error, as modelled and calibrated leave-one-out. */
export interface RunPredictionError {
  technique: Technique;
  /** |real - predicted| / real total time. */
  timeErrorModel: number;
  /** The same with the prediction scaled by calibration learnt from the other runs of the technique; undefined when there are none. */
  timeErrorCalibrated?: number;
  /** Real / predicted downtime, when both are known and positive. */
  downtimeRatioModel?: number;
  downtimeRatioCalibrated?: number;
}

/**
 * Every converged intact run's error: total time as modelled and calibrated leave-one-out (each
 * run predicted from the other runs of the technique, as the controller would after those moves),
 * and real / predicted downtime the same two ways.
 */
export function runPredictionErrors(runs: readonly OracleRun[]): RunPredictionError[] {
  const scored = runs.filter((r) => r.converged && r.intact && r.totalSeconds > 0);
  return scored.map((r) => {
    const others = scored.filter((o) => o !== r && o.technique === r.technique);
    const c = new PredictionCalibration(
      others.map((o) => ({
        from: o.from,
        to: o.to,
        technique: r.technique,
        predictedSeconds: o.predicted.totalSeconds,
        actualSeconds: o.totalSeconds,
        predictedDowntimeMs: o.predicted.downtimeMs,
        actualDowntimeMs: o.downtimeMs,
      })),
    );
    const f = c.factors(r.from, r.to, r.technique);
    const hasDowntime = r.downtimeMs !== undefined && r.downtimeMs > 0 && r.predicted.downtimeMs > 0;
    return {
      technique: r.technique,
      timeErrorModel: relError(r.totalSeconds, r.predicted.totalSeconds),
      timeErrorCalibrated: others.length > 0 ? relError(r.totalSeconds, r.predicted.totalSeconds * f.timeFactor) : undefined,
      downtimeRatioModel: hasDowntime ? r.downtimeMs! / r.predicted.downtimeMs : undefined,
      downtimeRatioCalibrated: hasDowntime && others.length > 0 ? r.downtimeMs! / (r.predicted.downtimeMs * f.downtimeFactor) : undefined,
    };
  });
}

/** Per technique, the medians of runPredictionErrors' figures. */
export function summarisePredictionErrors(errors: readonly RunPredictionError[]): PredictionErrorRow[] {
  const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
  const medianOrUndefined = (xs: number[]) => (xs.length ? median(xs) : undefined);
  return [...new Set(errors.map((e) => e.technique))].sort().map((technique) => {
    const es = errors.filter((e) => e.technique === technique);
    return {
      technique,
      runs: es.length,
      medianTimeErrorModel: median(es.map((e) => e.timeErrorModel)),
      medianTimeErrorCalibrated: medianOrUndefined(defined(es.map((e) => e.timeErrorCalibrated))),
      medianDowntimeRatioModel: medianOrUndefined(defined(es.map((e) => e.downtimeRatioModel))),
      medianDowntimeRatioCalibrated: medianOrUndefined(defined(es.map((e) => e.downtimeRatioCalibrated))),
    };
  });
}

/**
 * Per technique over converged intact runs: median |error| of total time as modelled and
 * calibrated leave-one-out (each run predicted from the other runs of the technique, as the
 * controller would after those moves), and the median real / predicted downtime.
 */
export function predictionErrors(runs: readonly OracleRun[]): PredictionErrorRow[] {
  return summarisePredictionErrors(runPredictionErrors(runs));
}

function predictionTable(rows: readonly PredictionErrorRow[]): string {
  if (rows.length === 0) return 'No converged intact runs to score.';
  return [
    '| technique | runs | median \\|error\\| total, model | median \\|error\\| total, calibrated | median real/predicted downtime, model | same, calibrated |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.technique} | ${r.runs} | ${pct(r.medianTimeErrorModel)} | ${r.medianTimeErrorCalibrated === undefined ? 'n/a' : pct(r.medianTimeErrorCalibrated)} | ${fmt(r.medianDowntimeRatioModel, 2)} | ${fmt(r.medianDowntimeRatioCalibrated, 2)} |`,
    ),
  ].join('\n');
}

export interface CapRatioRow {
  technique: string;
  runs: number;
  medianCapRatio: number;
  maxCapRatio: number;
}

/**
 * Issue 31's cap check per technique: bytes / (total time x cap) over the whole move, for every
 * run libvirt reported bytes for (a move's bytes counted once, its time from libvirt's
 * time_elapsed). 1.1 is the slack lab-techniques.test.ts allows.
 */
export function capRatios(cells: readonly OracleCellResult[]): CapRatioRow[] {
  const per = new Map<string, number[]>();
  for (const c of cells)
    for (const r of c.runs) {
      if (r.bytes === undefined || !(r.totalSeconds > 0)) continue;
      const ratio = r.bytes / MiB / (r.totalSeconds * c.spec.capMiBps);
      per.set(r.technique, [...(per.get(r.technique) ?? []), ratio]);
    }
  return [...per.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([technique, xs]) => ({ technique, runs: xs.length, medianCapRatio: median(xs), maxCapRatio: Math.max(...xs) }));
}

function capTable(rows: readonly CapRatioRow[]): string {
  if (rows.length === 0) return 'No run reported its bytes.';
  return [
    '| technique | runs | median bytes / (time x cap) | max |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.technique} | ${r.runs} | ${fmt(r.medianCapRatio, 2)} | ${fmt(r.maxCapRatio, 2)} |`),
  ].join('\n');
}

/** Vega-Lite bar chart: regret per cell (capped at 100 % for the axis; a miss is drawn at the cap). */
export function regretSpec(cells: readonly OracleCellResult[]): TopLevelSpec {
  const values = cells.map((c) => ({
    cell: `${c.cell}: ${c.spec.memoryMiB}M/${c.spec.workloadMiB}M ${c.spec.dirtyRatio}x@${c.spec.capMiBps}`,
    regretPercent: Number.isFinite(c.regret) ? Math.min(100, c.regret * 100) : 100,
    outcome: !Number.isFinite(c.regret) ? 'pick failed' : c.regret <= 0.1 ? 'within 10 %' : 'over 10 %',
    pick: c.pick,
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
    width: 520,
    height: 22 * values.length,
    title: "Chooser's regret per cell (real cost of the pick over the oracle's)",
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'cell', type: 'nominal', sort: null, title: 'cell: memory/working set dirty×cap@cap MiB/s' },
          x: { field: 'regretPercent', type: 'quantitative', title: 'regret, % (100 = pick failed or ≥ 100 %)', scale: { domain: [0, 100] } },
          color: {
            field: 'outcome',
            type: 'nominal',
            scale: { domain: ['within 10 %', 'over 10 %', 'pick failed'], range: ['#4c9a2a', '#e0a030', '#c0392b'] },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 3 },
        encoding: { y: { field: 'cell', type: 'nominal', sort: null }, x: { field: 'regretPercent', type: 'quantitative' }, text: { field: 'pick' } },
      },
      { data: { values: [{ x: 10 }] }, mark: { type: 'rule', strokeDash: [4, 3] }, encoding: { x: { field: 'x', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

export async function runOracleBench(
  options: { inputsPath?: string; log?: (line: string) => void; outDir?: string } = {},
): Promise<{ title: string; markdown: string; json: unknown }> {
  const log = options.log ?? (() => {});
  const inputs = inputsSchema.parse(JSON.parse(await readFile(options.inputsPath ?? DEFAULT_ORACLE_INPUTS, 'utf8')));
  // A helper's or CI's own lab wins over the inputs' default, so two benches never share one.
  const labDir = process.env.VB_ORACLE_LAB_DIR ?? inputs.labDir;
  const prefix = process.env.VB_ORACLE_LAB_ADDRESS_PREFIX ?? inputs.labAddressPrefix;
  const title = ORACLE_TITLE;
  const started = new Date();
  const loadAtStart = loadavg();
  const lab = new Lab(labDir, prefix);
  try {
    await lab.up({ hosts: 2, log: (m) => log(`oracle: lab: ${m}`) });
  } catch (error) {
    const why = `the lab in ${labDir} could not be brought up (${(error as Error).message.split('\n')[0]})`;
    return { title, markdown: `Not run: ${why}.`, json: { inputs, notRun: why } };
  }
  const cells: OracleCellResult[] = [];
  try {
    for (const [i, cell] of inputs.cells.entries()) {
      try {
        cells.push(await runCell(lab, i + 1, cell, inputs, log));
      } catch (error) {
        log(`oracle: cell ${i + 1} not run: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  } finally {
    if (inputs.labDownAfter) await lab.down().catch((error) => log(`oracle: lab down failed: ${(error as Error).message}`));
  }
  const seconds = (Date.now() - started.getTime()) / 1000;
  const json: OracleReportJson = {
    inputs: { ...inputs, labDir, labAddressPrefix: prefix, inputsFile: relative(join(import.meta.dirname, '..'), options.inputsPath ?? DEFAULT_ORACLE_INPUTS) },
    started: started.toISOString(),
    seconds,
    summary: oracleSummary(cells),
    predictionErrors: predictionErrors(cells.flatMap((c) => c.runs)),
    capRatios: capRatios(cells),
    load: { start: loadAtStart, end: loadavg() },
    cells,
  };
  const markdown = renderOracleMarkdown(json);
  return writeOracleReport(json, title, markdown, options.outDir, log);
}

/** What an oracle run writes as JSON (and `--render` reads back). */
export interface OracleReportJson {
  inputs: OracleInputs & { labDir: string; labAddressPrefix: string; inputsFile?: string };
  started: string;
  seconds: number;
  summary: ReturnType<typeof oracleSummary>;
  predictionErrors: PredictionErrorRow[];
  capRatios: CapRatioRow[];
  /** Machine load while the grid ran (os.loadavg() at the start and the end), when recorded. */
  load?: { start: number[]; end: number[] };
  cells: OracleCellResult[];
}

function stampOf(started: string): string {
  return started.replace(/[:]/g, '').replace(/\..*$/, 'Z');
}

/** The report's Markdown from a run's JSON (the same for a fresh run and `--render`). */
export function renderOracleMarkdown(json: OracleReportJson): string {
  const { inputs, summary, cells } = json;
  const labDir = inputs.labDir;
  const prefix = inputs.labAddressPrefix;
  const seconds = json.seconds;
  const errors = json.predictionErrors;
  const stamp = stampOf(json.started);
  const load = json.load ? ` Load average (1 min) ${json.load.start[0].toFixed(1)} at the start, ${json.load.end[0].toFixed(1)} at the end (2 cores).` : '';
  return [
    `Lab \`${basename(labDir)}\` (${prefix}x), ${inputs.hosts.join(' <-> ')}; one guest per cell moved back and forth once per technique by the executor under the cell's cap; downtime budget ${inputs.downtimeBudgetMs} ms, deadline ${inputs.deadlineSeconds} s; inputs \`${inputs.inputsFile ?? 'bench/inputs/oracle.json'}\`. Grid run took ${(seconds / 60).toFixed(1)} min.${load}`,
    '',
    `**${summary.cells} cells: ${summary.nonConvergingPicks} non-converging picks; regret ≤ 10 % in ${summary.regretWithin10Percent}/${summary.cells} (${pct(summary.shareWithin10Percent)}); ${summary.lostGuests} of ${summary.runs} runs lost the guest.**`,
    '',
    'Cost = total s + 2 × downtime s + the technique term of the chooser (post-copy exposure × 2 + 1 s, XBZRLE 0.3 s, throttle × 0.5), on real figures; a run that did not converge or lost the guest costs ∞.',
    '',
    cellsTable(cells, inputs.techniques),
    '',
    '**Prediction error per technique (uncalibrated model; calibrated leave-one-out from the other cells):**',
    '',
    predictionTable(errors),
    '',
    '**Bandwidth cap held, per technique (issue 31: ≤ 1.1):**',
    '',
    capTable(json.capRatios ?? capRatios(cells)),
    '',
    `![regret per cell](oracle-${stamp}.svg)`,
  ].join('\n');
}

async function writeOracleReport(
  json: OracleReportJson,
  title: string,
  markdown: string,
  outDirOption: string | undefined,
  log: (line: string) => void,
): Promise<{ title: string; markdown: string; json: unknown }> {
  const stamp = stampOf(json.started);
  const cells = json.cells;
  const outDir = outDirOption ?? join(import.meta.dirname, 'results');
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, `oracle-${stamp}.md`), `# ${title}\n\n${markdown}\n`);
  await writeFile(
    join(outDir, `oracle-${stamp}.json`),
    JSON.stringify(json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2),
  );
  try {
    const { renderSvg } = await import('./figures.js');
    await writeFile(join(outDir, `oracle-${stamp}.svg`), await renderSvg(regretSpec(cells)));
  } catch (error) {
    log(`oracle: figure not drawn: ${(error as Error).message}`);
  }
  return { title, markdown, json };
}

/**
 * The chooser of this checkout scored on an earlier grid run's measured runs: each cell's pick from
 * the chooserInput that run recorded, its regret against that run's real figures. For comparing a
 * changed chooser without a new 25-minute run (in-sample when the change was made from that run:
 * say so).
 */
export function rescore(json: { cells: OracleCellResult[] }): { cells: OracleCellResult[]; summary: ReturnType<typeof oracleSummary> } {
  const cells = json.cells.map((c) => {
    const pick = chooseTechnique(c.chooserInput).technique;
    return { ...c, pick, ...scoreCell(c.runs, pick) };
  });
  return { cells, summary: oracleSummary(cells) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = await import('node:util').then((u) =>
    u.parseArgs({ options: { inputs: { type: 'string' }, out: { type: 'string' }, rescore: { type: 'string' }, render: { type: 'string' } } }),
  );
  if (values.render) {
    // A saved run's report written again with this checkout's tables (its figures are as recorded).
    const json = JSON.parse(await readFile(values.render, 'utf8'), (_k, v) => (v === 'Infinity' ? Number.POSITIVE_INFINITY : v)) as OracleReportJson;
    json.summary = oracleSummary(json.cells);
    json.predictionErrors = predictionErrors(json.cells.flatMap((c) => c.runs));
    json.capRatios = capRatios(json.cells);
    await writeOracleReport(json, ORACLE_TITLE, renderOracleMarkdown(json), values.out ?? dirname(values.render), (l) => process.stderr.write(`${l}\n`));
  } else if (values.rescore) {
    const json = JSON.parse(await readFile(values.rescore, 'utf8'), (_k, v) => (v === 'Infinity' ? Number.POSITIVE_INFINITY : v));
    const { cells, summary } = rescore(json);
    for (const c of cells) process.stdout.write(`cell ${c.cell}: pick ${c.pick}, oracle ${c.best ?? 'none'}, regret ${pct(c.regret)}\n`);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else
    await runOracleBench({
      inputsPath: values.inputs,
      outDir: values.out,
      log: (l) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`),
    });
}
