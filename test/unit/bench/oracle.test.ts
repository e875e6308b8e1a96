import { describe, expect, it } from 'vitest';
import { capRatios, type OracleCellResult, type OracleRun, oracleSummary, predictionErrors, realCost, regretSpec, scoreCell } from '../../../bench/oracle.js';
import { renderSvg } from '../../../bench/figures.js';
import type { Technique } from '../../../src/policy/plan-types.js';

function run(technique: Technique, totalSeconds: number, over: Partial<OracleRun> = {}): OracleRun {
  const base = {
    cell: 1,
    technique,
    from: 'lab1',
    to: 'lab2',
    converged: true,
    intact: true,
    totalSeconds,
    downtimeMs: 50,
    predicted: { totalSeconds, downtimeMs: 50, bytes: 0, converges: true, postcopySeconds: technique === 'postcopy' ? totalSeconds : undefined },
    ...over,
  };
  return { ...base, cost: realCost(technique, base, base.predicted) };
}

describe('oracle benchmark scoring', () => {
  it("prices real runs with the chooser's cost: downtime x 2, post-copy exposure x 2 + 1 s, XBZRLE + 0.3 s; a run that did not converge or lost the guest is infinite", () => {
    expect(realCost('precopy', { converged: true, intact: true, totalSeconds: 10, downtimeMs: 100 }, { totalSeconds: 8 })).toBeCloseTo(10.2, 6);
    // Post-copy predicted at 4 s of exposure out of 4 s; it took 5 s: 5 + 2 x 5 + 1.
    expect(realCost('postcopy', { converged: true, intact: true, totalSeconds: 5, downtimeMs: 0 }, { totalSeconds: 4, postcopySeconds: 4 })).toBeCloseTo(16, 6);
    expect(realCost('xbzrle', { converged: true, intact: true, totalSeconds: 5, downtimeMs: 0 }, { totalSeconds: 5 })).toBeCloseTo(5.3, 6);
    expect(realCost('precopy', { converged: false, intact: true, totalSeconds: 20 }, { totalSeconds: 8 })).toBe(Number.POSITIVE_INFINITY);
    expect(realCost('precopy', { converged: true, intact: false, totalSeconds: 5 }, { totalSeconds: 8 })).toBe(Number.POSITIVE_INFINITY);
  });

  it('finds the oracle and the regret of a pick; a pick that did not converge has infinite regret and counts as a non-converging pick', () => {
    const runs = [run('precopy', 10), run('postcopy', 4), run('xbzrle', 20, { converged: false })];
    // Post-copy: 4 + 0.1 + 2 x 4 + 1 = 13.1; pre-copy 10.1: the oracle is pre-copy.
    const good = scoreCell(runs, 'precopy');
    expect(good.best).toBe('precopy');
    expect(good.regret).toBe(0);
    const worse = scoreCell(runs, 'postcopy');
    expect(worse.regret).toBeCloseTo((13.1 - 10.1) / 10.1, 6);
    const failed = scoreCell(runs, 'xbzrle');
    expect(failed.regret).toBe(Number.POSITIVE_INFINITY);
    const cells = [good, worse, failed].map(
      (s, i) => ({ cell: i + 1, pick: (['precopy', 'postcopy', 'xbzrle'] as const)[i], runs, ...s }) as unknown as OracleCellResult,
    );
    const summary = oracleSummary(cells);
    expect(summary).toMatchObject({ cells: 3, nonConvergingPicks: 1, regretWithin10Percent: 1, lostGuests: 0, runs: 9 });
  });

  it('scores prediction error per technique, calibrated leave-one-out from the other runs of the technique', () => {
    // Three pre-copy runs each taking 1.5x their prediction: the model is 33 % off, calibrated 0 %.
    const runs = [10, 20, 40].map((s) => ({ ...run('precopy', s * 1.5), predicted: { totalSeconds: s, downtimeMs: 20, bytes: 0, converges: true } }));
    const [row] = predictionErrors(runs);
    expect(row.technique).toBe('precopy');
    expect(row.medianTimeErrorModel).toBeCloseTo(1 / 3, 6);
    expect(row.medianTimeErrorCalibrated).toBeCloseTo(0, 6);
    // Real downtime 50 ms against 20 predicted: 2.5x as modelled, 1x once calibrated.
    expect(row.medianDowntimeRatioModel).toBeCloseTo(2.5, 6);
    expect(row.medianDowntimeRatioCalibrated).toBeCloseTo(1, 6);
  });

  it('draws the regret per cell as an SVG', async () => {
    const runs = [run('precopy', 10), run('postcopy', 4)];
    const cell = {
      cell: 1,
      spec: { memoryMiB: 128, workloadMiB: 32, dirtyRatio: 0.1, capMiBps: 24 },
      pick: 'postcopy',
      runs,
      ...scoreCell(runs, 'postcopy'),
    } as unknown as OracleCellResult;
    const svg = await renderSvg(regretSpec([cell]));
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('128M/32M 0.1x@24');
  });
  it('measures the cap held per technique as bytes / (time x cap) over the whole move; runs without bytes do not count', () => {
    const MiB = 1048576;
    const cell = (capMiBps: number, runs: OracleRun[]) =>
      ({ cell: 1, spec: { memoryMiB: 128, workloadMiB: 32, dirtyRatio: 0.1, capMiBps }, runs }) as unknown as OracleCellResult;
    const rows = capRatios([
      // 120 MiB in 5 s under 24 MiB/s: exactly the cap; 132 MiB: 10 % over.
      cell(24, [run('postcopy', 5, { bytes: 120 * MiB }), run('precopy', 5, { bytes: 96 * MiB }), run('xbzrle', 20, { converged: false })]),
      cell(48, [run('postcopy', 2, { bytes: 105.6 * MiB })]),
    ]);
    expect(rows.map((r) => r.technique)).toEqual(['postcopy', 'precopy']);
    expect(rows[0].runs).toBe(2);
    expect(rows[0].maxCapRatio).toBeCloseTo(1.1, 6);
    expect(rows[0].medianCapRatio).toBeCloseTo(1.05, 6);
    expect(rows[1].medianCapRatio).toBeCloseTo(0.8, 6);
  });
});
