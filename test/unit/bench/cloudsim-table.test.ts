import { describe, expect, it } from 'vitest';
import { CLOUDSIM_SCENARIO, cloudsimComparison, type TraceSummaryRow } from '../../../bench/traces/index.js';

function row(balancer: string, energyKWh: number, slavCloudsimAccountingPercent: number, migrations: number, scenario = CLOUDSIM_SCENARIO): TraceSummaryRow {
  const zero = {
    slatahPercent: 0,
    pdmPercent: 0.003,
    slavPercent: 0,
    slatahCloudsimAccountingPercent: 3.5,
    slatahPerHostMeanPercent: 0,
    pdmPerVmMeanPercent: 0,
    meanImbalance: 0,
    meanImbalanceActiveHosts: 0,
    unservedCpuPercent: 0,
    meanActiveHosts: 0,
    decideMsMean: 0,
  };
  return { scenario, balancer, description: '', days: 10, medians: { ...zero, energyKWh, slavCloudsimAccountingPercent, migrations } };
}

describe('the CloudSim 3.0.3 comparison table', () => {
  it("prints CloudSim's four rows and says which of ours beat LR-MMT-1.2 on energy, SLAV and migrations at once", () => {
    const table = cloudsimComparison([
      row('virt-balancer+consolidate', 160, 0.0002, 1500),
      row('virt-balancer+too-hungry', 162.3, 0.0002, 1500),
      row('virt-balancer+too-many-moves', 150, 0.0002, 27276),
      row('virt-balancer', 1000, 0, 40, 'cloudsim-800'),
    ]);
    expect(table).toMatch(/\| CloudSim LR-MMT-1.2 \| 162.2 \| 6.18 \| 0.08 \| 0.00498 \| 27,276 \| \|/);
    expect(table).toMatch(/\| CloudSim THR-MMT-0.8 \| 187.6 /);
    expect(table).toMatch(/\| virt-balancer\+consolidate \(10 days\) \| 160 \| 3.50 \| 0.0030 \| 2.00e-4 \| 1500 \| yes \|/);
    expect(table).toMatch(/too-hungry.*\| no \|/);
    expect(table).toMatch(/too-many-moves.*\| no \|/);
    // Other scenarios are not held against CloudSim.
    expect(table).not.toMatch(/\| virt-balancer \(/);
  });

  it('is empty when the CloudSim scenario did not run', () => {
    expect(cloudsimComparison([row('virt-balancer', 1000, 0, 40, 'cloudsim-800')])).toBe('');
  });
});
