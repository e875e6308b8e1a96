import { describe, expect, it } from 'vitest';
import { neverMigrate, thresholdBiggest } from '../../../bench/traces/baselines.js';
import type { TraceBenchInputs } from '../../../bench/traces/inputs.js';
import { replayDay } from '../../../bench/traces/replay.js';
import { windowed } from '../../../bench/traces/cluster-state.js';

// Two 1000-MIPS hosts of 1024 MiB; two 1000-MIPS VMs of 512 MiB, each at 60 % for three intervals.
// Memory-first-fit puts both on host 0: 1200 MIPS asked of 1000, so host 0 is overloaded.
// Migration bandwidth: 83.88608 Mbit/s = 10 MiB/s; CloudSim reads the VM's 512 (MB) as 512 x 10^6
// bytes, so a move takes 512e6 / 10,485,760 = 48.83 s.
const inputs: TraceBenchInputs = {
  tracesDir: '/nonexistent',
  days: ['20110303'],
  quickDays: ['20110303'],
  seed: 1,
  sampleSeconds: 300,
  scenarios: [{ name: 'tiny', hostCount: 2 }],
  hostTypes: [{ name: 'h', cores: 1, coreMips: 1000, memoryMiB: 1024, powerWattsAt0To100Percent: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100] }],
  vmTypes: [{ name: 'v', mips: 1000, memoryMiB: 512 }],
  networkMbps: 83.88608,
  migrationBandwidthShare: 1,
  migrationDegradationRatio: 0.1,
  initialPlacement: { method: 'memory-first-fit-decreasing' },
  windowSamples: 3,
  baselines: { cpuThresholdRatio: 0.8, maxMovesPerTick: 0 },
  engine: { cpuOvercommitRatio: 16, policyConfig: {} },
};
const day = {
  day: '20110303',
  vms: [
    { name: 'vm a', utilization: Float64Array.from([0.6, 0.6, 0.6]) },
    { name: 'vm b', utilization: Float64Array.from([0.6, 0.6, 0.6]) },
  ],
};
const scenario = inputs.scenarios[0];

describe('trace replay on a hand-computed cluster', () => {
  it('never migrating leaves host 0 overloaded the whole time', async () => {
    const r = await replayDay({ inputs, scenario, day, balancer: neverMigrate });
    expect(r.migrations).toBe(0);
    expect(r.sla.slatah).toBe(1); // 900 of 900 active host-seconds
    expect(r.sla.pdm).toBe(0);
    expect(r.unservedCpuShare).toBeCloseTo((200 * 900) / (1200 * 900), 12);
    // host 0 at 1.2 (power saturates at 100 W), host 1 off: 100 W x 900 s
    expect(r.energyKWh).toBeCloseTo((100 * 900) / 3.6e6, 12);
    expect(r.meanImbalance).toBeCloseTo(0.6, 12); // σ of {1.2, 0}
  });

  it('a threshold move after the first interval fixes the overload and costs 10 % of the VM for 48.83 s', async () => {
    const seconds = 512e6 / 10_485_760;
    const r = await replayDay({ inputs, scenario, day, balancer: thresholdBiggest(0.8) });
    expect(r.migrations).toBe(1);
    // Interval 0: host 0 overloaded (300 s of 300 s active). Intervals 1-2: both hosts at 60 %.
    expect(r.sla.slatah).toBeCloseTo(300 / (900 + 600), 12);
    expect(r.migrationSeconds).toBeCloseTo(seconds, 9);
    expect(r.migrationSeconds).toBeCloseTo(48.828125, 6);
    // 0.1 x 600 MIPS x 48.83 s lost, of 2 VMs x 600 MIPS x 900 s asked.
    expect(r.sla.pdm).toBeCloseTo((60 * seconds) / 1_080_000, 12);
    expect(r.sla.slav).toBeCloseTo(0.2 * ((60 * seconds) / 1_080_000), 12);
    expect(r.meanImbalance).toBeCloseTo(0.6 / 3, 12); // σ 0.6 once, then 0 twice
    // CloudSim accounting adds the 48.83 s host 0 serves the leaving VM at 90 %.
    expect(r.slatahCloudsimAccounting).toBeCloseTo((300 + seconds) / 1500, 12);
  });

  it('charges no energy for an interval a host spends at 0 % (CloudSim 3.0.3), idle VMs or not', async () => {
    // Both VMs idle for the first two intervals, then 60 %: host 0 (1200 MIPS asked of 1000) draws
    // 100 W for the last interval only.
    const idleFirst = { day: '20110303', vms: day.vms.map((v) => ({ ...v, utilization: Float64Array.from([0, 0, 0.6]) })) };
    const r = await replayDay({ inputs, scenario, day: idleFirst, balancer: neverMigrate });
    expect(r.energyKWh).toBeCloseTo((100 * 300) / 3.6e6, 12);
    expect(r.meanActiveHosts).toBe(1);
  });

  it('rejects a move that does not fit the target memory, names why, and keeps going', async () => {
    // 600 MiB VMs: one per 1024-MiB host at the start, so host 1 has 424 MiB free.
    const r = await replayDay({
      inputs: { ...inputs, vmTypes: [{ name: 'v', mips: 1000, memoryMiB: 600 }] },
      scenario,
      day,
      balancer: {
        name: 'bad',
        description: '',
        decide: (v) =>
          v.sampleIndex === 0
            ? [
                { vm: 0, to: 1 },
                { vm: 1, to: 1 },
              ]
            : [],
      },
    });
    expect(r.migrations).toBe(0);
    expect(r.rejectedMoves).toBe(2);
    expect(r.rejectedExamples[0]).toMatch(/vm a -> host0001: target has 424 MiB free, VM needs 600/);
    expect(r.rejectedExamples[1]).toMatch(/already there/);
  });

  it('with memory reserved at the start only (CloudSim 3.0.3), accepts the same move and shows the balancers no memory in use', async () => {
    let seen = -1;
    const r = await replayDay({
      inputs: { ...inputs, vmTypes: [{ name: 'v', mips: 1000, memoryMiB: 600 }] },
      scenario: { ...scenario, memoryLimit: 'initial-placement-only' },
      day,
      balancer: {
        name: 'packer',
        description: '',
        decide: (v) => {
          if (v.sampleIndex === 0) seen = v.hostMemoryUsedMiB(0);
          return v.sampleIndex === 0 ? [{ vm: 1, to: 0 }] : [];
        },
      },
    });
    expect(seen).toBe(0);
    expect(r.migrations).toBe(1);
    expect(r.rejectedMoves).toBe(0);
    // One VM per host in interval 0 (600 active host-seconds), both on host 0 from interval 1:
    // 1200 MIPS asked of 1000, so 600 overloaded of 1200 active host-seconds.
    expect(r.sla.slatah).toBeCloseTo(600 / 1200, 12);
  });

  it("uses a scenario's own VM memory figures for migration time", async () => {
    const r = await replayDay({
      inputs,
      scenario: { ...scenario, vmMemoryMiB: [256] },
      day,
      balancer: thresholdBiggest(0.8),
    });
    expect(r.migrationSeconds).toBeCloseTo(256e6 / 10_485_760, 9);
  });
});

describe('windowed values for the engine', () => {
  it('takes mean, nearest-rank p90 and last over the window', () => {
    // Least-squares slope of 0.5, 0.2, 0.9 against x = -1, 0, 1: (0.9 - 0.5) / 2 = 0.2 per sample.
    const w = windowed([0.1, 0.5, 0.2, 0.9], 3, 3);
    expect(w).toMatchObject({ last: 0.9, mean: (0.5 + 0.2 + 0.9) / 3, p90: 0.9, samples: 3 });
    expect(w.slopePerSample).toBeCloseTo(0.2, 12);
    // The window carries its samples: a host's statistics over VMs are taken from their per-instant sum.
    expect(windowed([0.4], 0, 3)).toEqual({ last: 0.4, mean: 0.4, p90: 0.4, samples: 1, series: [0.4] });
  });
});
