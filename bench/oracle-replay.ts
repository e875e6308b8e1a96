/**
 * The oracle benchmark replayed offline (issue 31): the cost model and chooser of this checkout
 * scored on saved oracle runs (bench/results/oracle-*.json and history/), in seconds instead of a
 * 23-minute lab grid. Every run's prediction is made again from what that run recorded the
 * collector saw just before it (its measured dirty rate and RSS, the cell's memory and cap: the
 * oracle's own `chooserInput`), then scored against the run's real figures with the oracle's own
 * functions: prediction error per technique uncalibrated and calibrated leave-one-out
 * (`predictionErrors`), each cell's pick from its first observation and the regret of that pick
 * (`realCost`, `scoreCell`). The real figures are what the lab measured; only the predictions and
 * picks are this checkout's.
 *
 * The regret is given two ways: with each run's real cost recomputed from the new prediction (what a
 * fresh oracle run of this checkout reports: `realCost` scales the modelled post-copy exposure by
 * real / predicted time) and with the real costs the run recorded (a yardstick the model cannot move).
 *
 * Replaying the run a change was fitted on is in-sample: constants must be fitted on one file and
 * checked on the others (`--files`), and the report says which is which.
 *
 *   npx tsx bench/oracle-replay.ts [--files a.json,b.json] [--tunables '{"setupSeconds":0.8}'] [--json]
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { chooseTechnique, type ChooserTunables, predictTechnique } from '../src/policy/chooser.js';
import type { Technique } from '../src/policy/plan-types.js';
import {
  chooserInput,
  type OracleCellResult,
  type OracleReportJson,
  type OracleRun,
  oracleSummary,
  type PredictionErrorRow,
  predictionErrors,
  realCost,
  recordedPrediction,
  runPredictionErrors,
  scoreCell,
  summarisePredictionErrors,
} from './oracle.js';

/**
 * The oracle runs the cost model is judged on (issue 31): two early ones (the second ran pre-copy
 * and multifd only; both predate multifd's cap governor), the full report's grid of 23:41, and
 * the grid run on the model of issue 31's second pass (02:37, an idle machine, with each guest's
 * non-zero memory from its previous move).
 */
export const DEFAULT_REPLAY_FILES = [
  join(import.meta.dirname, 'results', 'history', 'oracle-2026-12-07T163218Z.json'),
  join(import.meta.dirname, 'results', 'history', 'oracle-2026-12-07T170351Z.json'),
  join(import.meta.dirname, 'results', 'oracle-2026-12-07T234153Z.json'),
  join(import.meta.dirname, 'results', 'oracle-2026-12-08T023745Z.json'),
];

/** A saved oracle report (non-finite numbers were written as strings). */
export async function readOracleJson(path: string): Promise<OracleReportJson> {
  const text = await readFile(path, 'utf8');
  return JSON.parse(text, (_k, v) => {
    if (v === 'Infinity') return Number.POSITIVE_INFINITY;
    if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (v === 'NaN') return Number.NaN;
    return v;
  }) as OracleReportJson;
}

export interface ReplayedCell {
  cell: number;
  spec: OracleCellResult['spec'];
  /** The chooser's first-observation input as this checkout builds it. */
  measuredDirtyRateMiBps?: number;
  pick: Technique;
  /** The pick the run itself made (its chooser of the day). */
  recordedPick: Technique;
  pickPredictedConverges: boolean;
  /** The chooser's predicted cost of each technique it did not reject (a costlier one included). */
  predictedCosts: Partial<Record<Technique, number>>;
  /** Each run's real cost as the run recorded it (its model of the day scaled the post-copy exposure). */
  recordedCosts: Partial<Record<Technique, number>>;
  best?: Technique;
  regret: number;
  /** The same with the real costs the run recorded. */
  bestRecordedCost?: Technique;
  regretRecordedCost: number;
  runs: OracleRun[];
}

export interface ReplayResult {
  file: string;
  techniques: readonly Technique[];
  cells: ReplayedCell[];
  summary: ReturnType<typeof oracleSummary>;
  summaryRecordedCost: ReturnType<typeof oracleSummary>;
  errors: PredictionErrorRow[];
  /** The errors as the run itself recorded them (its model of the day). */
  errorsRecorded: PredictionErrorRow[];
}

type Inputs = Pick<OracleReportJson['inputs'], 'downtimeBudgetMs' | 'deadlineSeconds' | 'techniques'>;

function withTunables<T extends object>(input: T, tunables?: Partial<ChooserTunables>): T & { tunables?: Partial<ChooserTunables> } {
  return tunables ? { ...input, tunables } : input;
}

/** One saved oracle run replayed with this checkout's model (and optional tunables). */
export function replayOracle(json: OracleReportJson, file: string, tunables?: Partial<ChooserTunables>): ReplayResult {
  const inputs: Inputs = json.inputs;
  const cells: ReplayedCell[] = json.cells.map((c) => {
    const runs: OracleRun[] = c.runs.map((r) => {
      const seen = { dirtyRateMiBps: r.measuredDirtyRateMiBps, rssMiB: r.rssMiB, lastMoveNonzeroMiB: r.lastMoveNonzeroMiB };
      const p = predictTechnique(r.technique, withTunables(chooserInput(c.spec, seen, inputs), tunables));
      const predicted = recordedPrediction(p);
      const real = { converged: r.converged, intact: r.intact, totalSeconds: r.totalSeconds, downtimeMs: r.downtimeMs };
      return { ...r, predicted, cost: realCost(r.technique, real, predicted) };
    });
    const first = { dirtyRateMiBps: c.measuredDirtyRateMiBps, rssMiB: c.rssMiB };
    const choice = chooseTechnique(withTunables(chooserInput(c.spec, first, inputs), tunables));
    const score = scoreCell(runs, choice.technique);
    const recorded = scoreCell(c.runs, choice.technique);
    return {
      cell: c.cell,
      spec: c.spec,
      measuredDirtyRateMiBps: c.measuredDirtyRateMiBps,
      pick: choice.technique,
      recordedPick: c.pick,
      pickPredictedConverges: choice.predicted.converges,
      predictedCosts: Object.fromEntries(
        choice.alternatives.filter((a) => !a.rejected || a.rejected.startsWith('costlier')).map((a) => [a.technique, a.cost]),
      ) as Partial<Record<Technique, number>>,
      recordedCosts: Object.fromEntries(c.runs.map((r) => [r.technique, r.cost])) as Partial<Record<Technique, number>>,
      best: score.best,
      regret: score.regret,
      bestRecordedCost: recorded.best,
      regretRecordedCost: recorded.regret,
      runs,
    };
  });
  const asCells = (regretOf: (c: ReplayedCell) => number) => cells.map((c) => ({ ...c, regret: regretOf(c) }) as unknown as OracleCellResult);
  return {
    file,
    techniques: inputs.techniques,
    cells,
    summary: oracleSummary(asCells((c) => c.regret)),
    summaryRecordedCost: oracleSummary(asCells((c) => c.regretRecordedCost)),
    errors: predictionErrors(cells.flatMap((c) => c.runs)),
    errorsRecorded: predictionErrors(json.cells.flatMap((c) => c.runs)),
  };
}

const pct = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '∞');
const fmt = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));

/** Per technique: the run's recorded error beside this checkout's. */
export function errorTable(rows: readonly PredictionErrorRow[], recorded?: readonly PredictionErrorRow[]): string {
  const head = recorded
    ? '| technique | runs | time err, model (was) | time err, calibrated (was) | downtime real/pred, model (was) | same, calibrated (was) |\n|---|---|---|---|---|---|'
    : '| technique | runs | time err, model | time err, calibrated | downtime real/pred, model | same, calibrated |\n|---|---|---|---|---|---|';
  const lines = rows.map((r) => {
    const w = recorded?.find((x) => x.technique === r.technique);
    const was = (now: string, before: string | undefined) => (recorded ? `${now} (${before ?? 'n/a'})` : now);
    return `| ${r.technique} | ${r.runs} | ${was(pct(r.medianTimeErrorModel), w && pct(w.medianTimeErrorModel))} | ${was(pct(r.medianTimeErrorCalibrated), w && pct(w.medianTimeErrorCalibrated))} | ${was(fmt(r.medianDowntimeRatioModel), w && fmt(w.medianDowntimeRatioModel))} | ${was(fmt(r.medianDowntimeRatioCalibrated), w && fmt(w.medianDowntimeRatioCalibrated))} |`;
  });
  return [head, ...lines].join('\n');
}

/** One row per cell: the spec, what was measured, the pick now and then, the oracle and the regret. */
export function regretTable(cells: readonly ReplayedCell[]): string {
  const rows = [
    '| cell | memory MiB / ws MiB / dirty x cap @ cap | measured MiB/s | pick (was) | oracle | regret | regret, recorded costs |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const c of cells)
    rows.push(
      `| ${c.cell} | ${c.spec.memoryMiB} / ${c.spec.workloadMiB} / ${c.spec.dirtyRatio} @ ${c.spec.capMiBps} | ${c.measuredDirtyRateMiBps ?? 'n/a'} | ${c.pick}${c.pick === c.recordedPick ? '' : ` (${c.recordedPick})`}${c.pickPredictedConverges ? '' : ' (predicted not converging)'} | ${c.best ?? 'none'} | ${pct(c.regret)} | ${pct(c.regretRecordedCost)} |`,
    );
  return rows.join('\n');
}

function summaryLine(s: ReturnType<typeof oracleSummary>): string {
  return `${s.cells} cells: ${s.nonConvergingPicks} non-converging picks; regret <= 10 % in ${s.regretWithin10Percent}/${s.cells}`;
}

/**
 * How far the model is off when it compares two techniques, which is what a pick rests on: for
 * every pair of techniques the chooser found viable in a cell and that really converged there,
 * |ln((real cost a / real cost b) / (predicted a / predicted b))|, the real costs as each run
 * recorded them. Returns the pairs and the median, p75 and p90 as a relative error (e^x − 1);
 * the chooser's simplerTechniqueMargin is set from the median.
 */
export function costRatioErrors(results: readonly ReplayResult[]): { pairs: number; median: number; p75: number; p90: number } {
  const errors: number[] = [];
  for (const r of results)
    for (const c of r.cells) {
      const both = (Object.keys(c.predictedCosts) as Technique[]).filter((t) => Number.isFinite(c.recordedCosts[t] ?? Number.NaN));
      for (let i = 0; i < both.length; i++)
        for (let j = i + 1; j < both.length; j++) {
          const [a, b] = [both[i], both[j]];
          const predicted = (c.predictedCosts[a] as number) / (c.predictedCosts[b] as number);
          errors.push(Math.abs(Math.log((c.recordedCosts[a] as number) / (c.recordedCosts[b] as number) / predicted)));
        }
    }
  errors.sort((x, y) => x - y);
  const q = (p: number) => (errors.length === 0 ? Number.NaN : Math.expm1(errors[Math.floor(p * (errors.length - 1))]));
  return { pairs: errors.length, median: q(0.5), p75: q(0.75), p90: q(0.9) };
}

export function renderReplay(results: readonly ReplayResult[], pooled: PredictionErrorRow[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`## ${basename(r.file)} (techniques: ${r.techniques.join(', ')})`, '');
    out.push(`**${summaryLine(r.summary)}** (with the recorded real costs: ${summaryLine(r.summaryRecordedCost)})`, '');
    out.push(regretTable(r.cells), '', errorTable(r.errors, r.errorsRecorded), '');
  }
  out.push('## All files pooled (calibration leave-one-out within each file)', '', errorTable(pooled), '');
  const e = costRatioErrors(results);
  out.push(
    `Predicted cost ratio of two viable techniques in one cell against the real one (${e.pairs} pairs): median error ${pct(e.median)}, p75 ${pct(e.p75)}, p90 ${pct(e.p90)} (the chooser's simplerTechniqueMargin is set from the median).`,
    '',
  );
  return out.join('\n');
}

/**
 * Pooled per-technique figures over several files: the median over every run of every file, each
 * run calibrated leave-one-out from the other runs of its own file (as each grid run calibrates).
 */
export function pooledErrors(results: readonly ReplayResult[]): PredictionErrorRow[] {
  return summarisePredictionErrors(results.flatMap((r) => runPredictionErrors(r.cells.flatMap((c) => c.runs))));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { files: { type: 'string' }, tunables: { type: 'string' }, json: { type: 'boolean' } } });
  const files = values.files ? values.files.split(',') : DEFAULT_REPLAY_FILES;
  const tunables = values.tunables ? (JSON.parse(values.tunables) as Partial<ChooserTunables>) : undefined;
  const results: ReplayResult[] = [];
  for (const file of files) results.push(replayOracle(await readOracleJson(file), file, tunables));
  const pooled = pooledErrors(results);
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ results: results.map(({ cells, ...r }) => ({ ...r, cells: cells.map(({ runs, ...c }) => c) })), pooled }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`,
    );
  else process.stdout.write(renderReplay(results, pooled));
}
