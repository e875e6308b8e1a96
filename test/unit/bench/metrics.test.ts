import { describe, expect, it } from 'vitest';
import { computeSlaMetrics, median, powerWatts, standardDeviation } from '../../../bench/traces/metrics.js';

describe('SLA metrics (Beloglazov & Buyya 2012)', () => {
  // Hand-computed: host A active 600 s, overloaded 300 s; host B active 900 s, never overloaded;
  // host C never active. VM 1 asked 1000 MIPS-s and lost 10 to migration; VM 2 asked 3000, lost 0.
  const hosts = [
    { activeSeconds: 600, overloadedSeconds: 300 },
    { activeSeconds: 900, overloadedSeconds: 0 },
    { activeSeconds: 0, overloadedSeconds: 0 },
  ];
  const vms = [
    { requestedMipsSeconds: 1000, migrationDegradationMipsSeconds: 10 },
    { requestedMipsSeconds: 3000, migrationDegradationMipsSeconds: 0 },
    { requestedMipsSeconds: 0, migrationDegradationMipsSeconds: 0 },
  ];
  const m = computeSlaMetrics(hosts, vms);

  it('SLATAH in CloudSim form is overloaded host-seconds over active host-seconds', () => {
    expect(m.slatah).toBeCloseTo(300 / 1500, 12);
  });
  it('SLATAH in paper form averages per-host ratios over hosts that were ever active', () => {
    expect(m.slatahPerHostMean).toBeCloseTo((0.5 + 0) / 2, 12);
  });
  it('PDM in CloudSim form is degradation over requested CPU, summed over VMs', () => {
    expect(m.pdm).toBeCloseTo(10 / 4000, 12);
  });
  it('PDM in paper form averages per-VM ratios over VMs that requested CPU', () => {
    expect(m.pdmPerVmMean).toBeCloseTo((0.01 + 0) / 2, 12);
  });
  it('SLAV is the product of SLATAH and PDM in each form', () => {
    expect(m.slav).toBeCloseTo(0.2 * 0.0025, 12);
    expect(m.slavPaperForm).toBeCloseTo(0.25 * 0.005, 12);
  });
  it('is zero, not NaN, when nothing was active', () => {
    const empty = computeSlaMetrics([{ activeSeconds: 0, overloadedSeconds: 0 }], []);
    expect(empty).toEqual({ slatah: 0, pdm: 0, slav: 0, slatahPerHostMean: 0, pdmPerVmMean: 0, slavPaperForm: 0 });
  });
  it('rejects a host overloaded for longer than it was active', () => {
    expect(() => computeSlaMetrics([{ activeSeconds: 300, overloadedSeconds: 600 }], [])).toThrow(/overloadedSeconds 600 exceeds activeSeconds 300/);
  });
});

describe('helpers', () => {
  it('standard deviation is the population form', () => {
    expect(standardDeviation([0.2, 0.4, 0.6, 0.8])).toBeCloseTo(Math.sqrt(0.05), 12);
    expect(standardDeviation([])).toBe(0);
  });
  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it('power interpolates the SPECpower table linearly and saturates above full load', () => {
    const g4 = [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117];
    expect(powerWatts(g4, 0)).toBe(86);
    expect(powerWatts(g4, 0.05)).toBeCloseTo(87.7, 10);
    expect(powerWatts(g4, 1)).toBe(117);
    expect(powerWatts(g4, 1.7)).toBe(117);
    expect(() => powerWatts([1, 2], 0.5)).toThrow(/11 entries/);
  });
});
