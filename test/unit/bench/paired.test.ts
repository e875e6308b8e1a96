import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mergeTraceReports } from '../../../bench/traces/paired-merge.js';
import { pairedComparisons, pairedMarkdown, parseReferenceCsv } from '../../../bench/traces/paired.js';
import type { ReplayResult } from '../../../bench/traces/replay.js';

const csv =
  'day,energy_kwh,migrations,slav_percent,pdm_percent,slatah_percent\n20110303,167.83,27649,0.00432,0.08,5.72\n20110306,127.98,21661,0.00497,0.08,5.99\n20110309,139.40,24239,0.00527,0.08,6.31\n';

function result(
  scenario: string,
  balancer: string,
  day: string,
  f: { kWh: number; slavPercent?: number; slatahPercent?: number; migrations: number },
): ReplayResult {
  const slatah = (f.slatahPercent ?? 1) / 100;
  return {
    scenario,
    day,
    balancer,
    vmCount: 1,
    hostCount: 1,
    sla: { slatah, pdm: 0, slav: 0, slatahPerHostMean: 0, pdmPerVmMean: 0, slavPaperForm: 0 },
    overloadedHostTimeShare: slatah,
    slatahCloudsimAccounting: slatah,
    slavCloudsimAccounting: (f.slavPercent ?? 0) / 100,
    migrations: f.migrations,
    rejectedMoves: 0,
    rejectedExamples: [],
    meanImbalance: 0,
    meanImbalanceActiveHosts: 0,
    unservedCpuShare: 0,
    energyKWh: f.kWh,
    meanActiveHosts: 0,
    migrationSeconds: 0,
    decideMsMean: 0,
    decideMsMax: 0,
    errors: [],
  };
}

describe('paired per-day comparison', () => {
  const reference = parseReferenceCsv(csv);

  it('reads the CloudSim per-day CSV and names a bad line', () => {
    expect(reference[1]).toEqual({ day: '20110306', energyKWh: 127.98, migrations: 21661, slavPercent: 0.00497, slatahPercent: 5.99 });
    expect(() => parseReferenceCsv('day,energy_kwh,migrations,slav_percent,slatah_percent\n2011,x,1,1,1\n', 'ref.csv')).toThrow(
      /ref.csv line 2: "2011,x,1,1,1"/,
    );
    expect(() => parseReferenceCsv('day,kwh\n', 'ref.csv')).toThrow(/ref.csv: no column "energy_kwh"/);
  });

  it('wins a consolidation day only with energy <= LR-MMT and SLAV and migrations below; counts all days and held-out days', () => {
    const c = 'cloudsim-800-as-cloudsim';
    const results = [
      result(c, 'vb', '20110303', { kWh: 160, slavPercent: 0.0003, migrations: 2000 }), // win (tuning day)
      result(c, 'vb', '20110306', { kWh: 127.98, slavPercent: 0.0003, migrations: 2000 }), // win: equal energy counts
      result(c, 'vb', '20110309', { kWh: 139.41, slavPercent: 0.0003, migrations: 2000 }), // loses on energy
      result(c, 'never', '20110303', { kWh: 700, migrations: 0 }),
      // A balancing run in the CloudSim scenario and the consolidator elsewhere have no comparator.
      result(c, 'balancer', '20110303', { kWh: 700, migrations: 20 }),
      result('cloudsim-800', 'vb', '20110303', { kWh: 700, migrations: 0 }),
      result('cloudsim-800', 'threshold-random', '20110303', { kWh: 700, migrations: 20 }),
    ];
    const [cmp, ...rest] = pairedComparisons(results, {
      reference,
      cloudsimScenario: c,
      thresholdBaselines: ['threshold-random'],
      tuningDays: { vb: ['20110303'] },
      consolidating: ['vb'],
    });
    expect(rest).toEqual([]);
    expect(cmp.kind).toBe('against-lr-mmt');
    expect(cmp.perDay.map((d) => [d.day, d.win, d.heldOut])).toEqual([
      ['20110303', true, false],
      ['20110306', true, true],
      ['20110309', false, true],
    ]);
    expect(cmp.perDay[2].met).toEqual({ energy: false, slav: true, migrations: true });
    expect(cmp.all).toMatchObject({
      days: 3,
      wins: 2,
      oursMigrations: 6000,
      theirsMigrations: 27649 + 21661 + 24239,
      met: { energy: 2, slav: 3, migrations: 3 },
    });
    expect(cmp.all.oursEnergyKWh).toBeCloseTo(160 + 127.98 + 139.41, 10);
    expect(cmp.all.theirsEnergyKWh).toBeCloseTo(167.83 + 127.98 + 139.4, 10);
    expect(cmp.heldOut).toMatchObject({ days: 2, wins: 1 });
    const md = pairedMarkdown([cmp]);
    expect(md).toMatch(/tuned on 20110303; the other days are held out/);
    expect(md).toMatch(/\| 20110309 \| yes \| 139\.41 \/ 139\.40 \(\+0\.0 %\) .* \| no \(energy\) \|/);
    expect(md).toMatch(/All days: wins on 2 of 3 days \(energy 2\/3, slav 3\/3, migrations 3\/3\)/);
    expect(md).toMatch(/Held-out days: wins on 1 of 2 days/);
  });

  it('holds a balancer against the best threshold script of each day (lower SLATAH, then fewer migrations)', () => {
    const s = 'overcommitted-200';
    const results = [
      result(s, 'threshold-random', '20110303', { kWh: 1, slatahPercent: 0.02, migrations: 190 }),
      result(s, 'threshold-biggest', '20110303', { kWh: 1, slatahPercent: 0.03, migrations: 100 }),
      result(s, 'vb', '20110303', { kWh: 1, slatahPercent: 0.019, migrations: 150 }), // below random's SLATAH, fewer moves: win
      result(s, 'threshold-random', '20110306', { kWh: 1, slatahPercent: 0.02, migrations: 100 }),
      result(s, 'threshold-biggest', '20110306', { kWh: 1, slatahPercent: 0.02, migrations: 90 }),
      result(s, 'vb', '20110306', { kWh: 1, slatahPercent: 0.01, migrations: 95 }), // best is biggest (tie on SLATAH, fewer moves): 95 > 90
    ];
    const [cmp] = pairedComparisons(results, {
      reference,
      cloudsimScenario: 'cloudsim-800-as-cloudsim',
      thresholdBaselines: ['threshold-random', 'threshold-biggest'],
      tuningDays: {},
      consolidating: [],
    });
    expect(cmp.kind).toBe('against-best-threshold');
    expect(cmp.perDay.map((d) => [d.day, d.theirs.name, d.win])).toEqual([
      ['20110303', 'threshold-random', true],
      ['20110306', 'threshold-biggest', false],
    ]);
    expect(cmp.heldOut.days).toBe(2);
    expect(pairedMarkdown([cmp])).toMatch(/no tuning days recorded/);
  });

  it("balancing: issue 26's win exactly: SLATAH strictly below the best script's, migrations at most its; headline SLATAH, not CloudSim accounting", () => {
    const s = 'overcommitted-200';
    const day = (d: string, vb: { slatahPercent: number; migrations: number }, cloudsimSlatahPercent?: number) => {
      const ours = result(s, 'vb', d, { kWh: 1, ...vb });
      if (cloudsimSlatahPercent !== undefined) ours.slatahCloudsimAccounting = cloudsimSlatahPercent / 100;
      return [
        result(s, 'threshold-random', d, { kWh: 1, slatahPercent: 0.02, migrations: 100 }),
        result(s, 'threshold-biggest', d, { kWh: 1, slatahPercent: 0.03, migrations: 50 }),
        ours,
      ];
    };
    const results = [
      ...day('20110303', { slatahPercent: 0.02, migrations: 10 }), // equal SLATAH: not below
      ...day('20110306', { slatahPercent: 0.019, migrations: 100 }), // equal migrations: no more than
      ...day('20110309', { slatahPercent: 0.019, migrations: 101 }), // one more migration than the best script (not than the other)
      ...day('20110322', { slatahPercent: 0.019, migrations: 90 }, 0.5), // CloudSim accounting higher: the headline decides
    ];
    const [cmp] = pairedComparisons(results, {
      reference,
      cloudsimScenario: 'cloudsim-800-as-cloudsim',
      thresholdBaselines: ['threshold-random', 'threshold-biggest'],
      tuningDays: { vb: ['20110303'] },
      consolidating: [],
    });
    expect(cmp.perDay.map((d) => [d.day, d.theirs.name, d.win, d.met])).toEqual([
      ['20110303', 'threshold-random', false, { slatah: false, migrations: true }],
      ['20110306', 'threshold-random', true, { slatah: true, migrations: true }],
      ['20110309', 'threshold-random', false, { slatah: true, migrations: false }],
      ['20110322', 'threshold-random', true, { slatah: true, migrations: true }],
    ]);
    expect(cmp.all).toMatchObject({ days: 4, wins: 2 });
    expect(cmp.heldOut).toMatchObject({ days: 3, wins: 2 });
  });

  it('merges the days of several trace reports of one commit, and refuses another commit or a day twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-paired-'));
    const report = async (name: string, commit: string, days: string[]) => {
      const path = join(dir, name);
      const perDay = days.map((d) => result('cloudsim-800-as-cloudsim', 'vb', d, { kWh: 100, migrations: 1 }));
      await writeFile(path, JSON.stringify({ meta: { commit }, sections: [{ name: 'traces', status: 'ok', json: { inputs: { engine: {} }, perDay } }] }));
      return path;
    };
    const a = await report('a.json', 'abc1234', ['20110303']);
    const b = await report('b.json', 'abc1234', ['20110306', '20110309']);
    const merged = await mergeTraceReports([a, b]);
    expect(merged.perDay.map((r) => r.day)).toEqual(['20110303', '20110306', '20110309']);
    expect(merged.commit).toBe('abc1234');
    await expect(mergeTraceReports([a, await report('c.json', 'def5678', ['20110412'])])).rejects.toThrow(
      /c\.json: commit def5678, the first report's is abc1234/,
    );
    await expect(mergeTraceReports([a, a])).rejects.toThrow(/a\.json: day 20110303 of vb in cloudsim-800-as-cloudsim is already in an earlier report/);
  });
});
