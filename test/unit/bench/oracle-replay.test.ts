import { describe, expect, it } from 'vitest';
import { type OracleReportJson, type OracleRun, realCost } from '../../../bench/oracle.js';
import { chooserInput } from '../../../bench/oracle.js';
import { costRatioErrors, DEFAULT_REPLAY_FILES, readOracleJson, replayOracle } from '../../../bench/oracle-replay.js';
import { DEFAULT_TUNABLES, predictTechnique } from '../../../src/policy/chooser.js';
import type { Technique } from '../../../src/policy/plan-types.js';

const inputs = { downtimeBudgetMs: 300, deadlineSeconds: 20, techniques: ['precopy', 'postcopy'] as Technique[] };
const spec = { memoryMiB: 192, workloadMiB: 64, dirtyRatio: 0.5, capMiBps: 24 };

/** A run whose recorded prediction is this checkout's, from what it says was measured before it. */
function run(technique: Technique, seen: { dirtyRateMiBps: number; rssMiB: number }, real: { totalSeconds: number; downtimeMs: number }): OracleRun {
  const p = predictTechnique(technique, chooserInput(spec, seen, inputs));
  const predicted = { totalSeconds: p.totalSeconds, downtimeMs: p.downtimeMs, bytes: p.bytes, converges: p.converges, postcopySeconds: p.postcopySeconds };
  const r = { converged: true, intact: true, ...real };
  return {
    cell: 1,
    technique,
    from: 'lab1',
    to: 'lab2',
    ...r,
    measuredDirtyRateMiBps: seen.dirtyRateMiBps,
    rssMiB: seen.rssMiB,
    predicted,
    cost: realCost(technique, r, predicted),
  };
}

function report(runs: OracleRun[]): OracleReportJson {
  return {
    inputs: { ...inputs, labDir: 'x', labAddressPrefix: '127.0.7.' } as OracleReportJson['inputs'],
    started: '2026-12-07T00:00:00.000Z',
    seconds: 1,
    summary: { cells: 1, nonConvergingPicks: 0, regretWithin10Percent: 1, shareWithin10Percent: 1, lostGuests: 0, runs: runs.length },
    predictionErrors: [],
    capRatios: [],
    cells: [
      {
        cell: 1,
        spec,
        measuredDirtyRateMiBps: 2,
        rssMiB: 250,
        chooserInput: chooserInput(spec, { dirtyRateMiBps: 2, rssMiB: 250 }, inputs),
        pick: 'precopy',
        pickPredictedConverges: true,
        pickCost: runs[0].cost,
        regret: 0,
        runs,
      },
    ],
  };
}

describe('oracle replay', () => {
  it("reproduces a run's own figures when the model is unchanged, each run predicted from what was measured before it", () => {
    const runs = [
      run('precopy', { dirtyRateMiBps: 2, rssMiB: 250 }, { totalSeconds: 9, downtimeMs: 40 }),
      run('postcopy', { dirtyRateMiBps: 30, rssMiB: 240 }, { totalSeconds: 6, downtimeMs: 8 }),
    ];
    const r = replayOracle(report(runs), 'synthetic.json');
    expect(r.errors).toEqual(r.errorsRecorded);
    expect(r.cells[0].runs.map((x) => x.predicted.totalSeconds)).toEqual(runs.map((x) => x.predicted.totalSeconds));
    expect(r.cells[0].pick).toBe('precopy');
    expect(r.cells[0].best).toBe('precopy');
  });

  it('re-predicts with the tunables given, and re-prices the real runs with the new prediction as a fresh oracle run would', () => {
    const runs = [
      run('precopy', { dirtyRateMiBps: 2, rssMiB: 250 }, { totalSeconds: 9, downtimeMs: 40 }),
      run('postcopy', { dirtyRateMiBps: 30, rssMiB: 240 }, { totalSeconds: 6, downtimeMs: 8 }),
    ];
    const slower = replayOracle(report(runs), 'synthetic.json', { setupSeconds: DEFAULT_TUNABLES.setupSeconds + 3 });
    const [pre, post] = slower.cells[0].runs;
    expect(pre.predicted.totalSeconds).toBeGreaterThan(runs[0].predicted.totalSeconds + 2.9);
    expect(post.predicted.totalSeconds).toBeGreaterThan(runs[1].predicted.totalSeconds + 2.9);
    // The real post-copy cost depends on the modelled exposure: recomputed, not copied.
    expect(post.cost).toBeCloseTo(realCost('postcopy', post, post.predicted), 9);
    expect(slower.errors).not.toEqual(slower.errorsRecorded);
  });

  it("measures the model's error in comparing two techniques from the cell's predicted costs and the runs' recorded real ones", () => {
    const runs = [
      run('precopy', { dirtyRateMiBps: 2, rssMiB: 250 }, { totalSeconds: 9, downtimeMs: 40 }),
      run('postcopy', { dirtyRateMiBps: 30, rssMiB: 240 }, { totalSeconds: 6, downtimeMs: 8 }),
    ];
    const r = replayOracle(report(runs), 'synthetic.json');
    const c = r.cells[0];
    const predicted = (c.predictedCosts.precopy as number) / (c.predictedCosts.postcopy as number);
    const real = runs[0].cost / runs[1].cost;
    const e = costRatioErrors([r]);
    expect(e.pairs).toBe(1);
    expect(e.median).toBeCloseTo(Math.exp(Math.abs(Math.log(real / predicted))) - 1, 9);
    // A run that did not converge gives no pair.
    const failed = replayOracle(report([runs[0], { ...runs[1], converged: false, cost: Number.POSITIVE_INFINITY }]), 'synthetic.json');
    expect(costRatioErrors([failed]).pairs).toBe(0);
  });

  it('reads the saved oracle runs it replays by default (non-finite figures written as strings)', async () => {
    const json = await readOracleJson(DEFAULT_REPLAY_FILES[2]);
    expect(json.cells.length).toBe(12);
    const notConverged = json.cells.flatMap((c) => c.runs).filter((r) => !r.converged);
    expect(notConverged.length).toBeGreaterThan(0);
    expect(notConverged.every((r) => r.cost === Number.POSITIVE_INFINITY)).toBe(true);
  });
});
