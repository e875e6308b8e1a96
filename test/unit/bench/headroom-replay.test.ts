/**
 * What failover headroom costs in energy under consolidation (issue 29 item 1), on a replay small
 * enough to count by hand: four 1-core hosts of 4096 MiB (50 W idle, 100 W at 100 %), eight VMs of
 * 800 MiB at 10 % CPU, two per host. Consolidation packs them onto two hosts (four each: 3200 MiB,
 * 40 % CPU); with policy.headroom.hostFailures 1 it stops at three hosts, since two full hosts
 * could not take each other's VMs.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { engineBalancer } from '../../../bench/traces/engine-balancer.js';
import type { TraceBenchInputs } from '../../../bench/traces/inputs.js';
import { replayDay } from '../../../bench/traces/replay.js';

const inputs: TraceBenchInputs = {
  tracesDir: '/nonexistent',
  days: ['synthetic'],
  quickDays: ['synthetic'],
  seed: 1,
  sampleSeconds: 300,
  scenarios: [{ name: 'four', hostCount: 4 }],
  hostTypes: [{ name: 'h', cores: 1, coreMips: 1000, memoryMiB: 4096, powerWattsAt0To100Percent: [50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100] }],
  vmTypes: [{ name: 'v', mips: 1000, memoryMiB: 800 }],
  networkMbps: 10_000,
  migrationBandwidthShare: 1,
  migrationDegradationRatio: 0,
  initialPlacement: { method: 'round-robin' },
  windowSamples: 1,
  baselines: { cpuThresholdRatio: 0.8, maxMovesPerTick: 0 },
  engine: { cpuOvercommitRatio: 16, policyConfig: {} },
};
const SAMPLES = 12;
const day = {
  day: 'synthetic',
  vms: Array.from({ length: 8 }, (_, i) => ({ name: `vm${i}`, utilization: new Float64Array(SAMPLES).fill(0.1) })),
};

async function replay(hostFailures: number) {
  const config = policySchema.parse({
    goal: 'consolidate',
    cpuHighPercent: 100,
    cpuLowPercent: 50,
    cooldownSeconds: 0,
    maxMovesPerTick: 20,
    consolidation: { targetUtilizationPercent: 90, forecastAheadTicks: 0 },
    headroom: { hostFailures },
  });
  // The replay counts a host without VMs as switched off (its energy); the planner is told so too
  // (standby, as power-off would leave it), or an emptied host would still count as room.
  const balancer = engineBalancer(
    (state, memory) => {
      const holding = new Set(state.vms.map((v) => v.host));
      return plan({ ...state, hosts: state.hosts.map((h) => (holding.has(h.name) ? h : { ...h, power: 'standby' as const })) }, { config, memory });
    },
    inputs,
    `headroom ${hostFailures}`,
  );
  return replayDay({ inputs, scenario: inputs.scenarios[0], day, balancer });
}

describe('failover headroom in a consolidation replay', () => {
  it('costs one more active host: 2 -> 3 hosts, and the energy of its idle draw', async () => {
    const without = await replay(0);
    const kept = await replay(1);
    expect(without.errors).toEqual([]);
    expect(kept.errors).toEqual([]);
    // Without: two moves per emptied host, two emptied.
    expect(without.migrations).toBe(4);
    expect(kept.migrations).toBe(2);
    const kWh = (watts: number, intervals: number) => (watts * 300 * intervals) / 3.6e6;
    // First interval: four hosts at 20 % (60 W each); then 2 x 40 % (70 W) without, 40 + 20 + 20 % (70 + 60 + 60 W) with.
    expect(without.energyKWh).toBeCloseTo(kWh(240, 1) + kWh(140, SAMPLES - 1), 9);
    expect(kept.energyKWh).toBeCloseTo(kWh(240, 1) + kWh(190, SAMPLES - 1), 9);
    // The figure: 50 W more for 11 of 12 intervals (55 minutes), +36 % over the packed cluster.
    expect(+(kept.energyKWh - without.energyKWh).toFixed(6)).toBe(+kWh(50, SAMPLES - 1).toFixed(6));
  });
});
