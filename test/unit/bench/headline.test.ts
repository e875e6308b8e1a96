import { describe, expect, it } from 'vitest';
import { headlineFigures } from '../../../bench/headline.js';

describe('headlineFigures', () => {
  const traces = {
    name: 'traces',
    status: 'ok',
    json: {
      paired: [
        { scenario: 'cloudsim-800', balancer: 'virt-balancer', kind: 'against-best-threshold', all: { days: 10, wins: 7 } },
        {
          scenario: 'cloudsim-800-as-cloudsim',
          balancer: 'virt-balancer+consolidate',
          kind: 'against-lr-mmt',
          all: { days: 10, wins: 10, oursEnergyKWh: 1549.84, theirsEnergyKWh: 1649.8 },
        },
      ],
    },
  };
  const oracle = { name: 'oracle', status: 'ok', json: { summary: { cells: 12, regretWithin10Percent: 11, nonConvergingPicks: 0, lostGuests: 0 } } };
  const scale = {
    name: 'scale',
    status: 'ok',
    json: {
      sizes: [
        { hosts: 100, medianCpuMsPerTick: 90 },
        { hosts: 10000, medianCpuMsPerTick: 13017.4, runs: [{ rpcsPerHostPerTick: 4 }] },
      ],
    },
  };

  it('names each paired comparison, the oracle summary and the largest scale size', () => {
    expect(headlineFigures([traces, oracle, scale])).toBe(
      'virt-balancer vs best threshold (cloudsim-800): 7/10 days; virt-balancer+consolidate vs LR-MMT (cloudsim-800-as-cloudsim): 10/10 days, 1,549.8 vs 1,649.8 kWh; ' +
        'oracle: regret <= 10 % in 11/12 cells, 0 non-converging picks, 0 guests lost; scale 10,000 hosts: 13,017 ms CPU/tick, 4.00 RPCs/host/tick',
    );
  });

  it('gives no figure for a failed or missing section', () => {
    expect(
      headlineFigures([
        { ...oracle, status: 'failed' },
        { name: 'scale', status: 'missing', json: null },
      ]),
    ).toBe('');
  });
});
