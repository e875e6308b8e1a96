import { describe, expect, it } from 'vitest';
import type { ClusterState } from '../../../src/cluster/model.js';
import type { Plan } from '../../../src/policy/plan-types.js';
import { engineBalancer } from '../../../bench/traces/engine-balancer.js';
import type { TraceBenchInputs } from '../../../bench/traces/inputs.js';
import { replayDay } from '../../../bench/traces/replay.js';

// One G4-like host (2 x 1860 MIPS) and one G5-like host (2 x 2660 MIPS); two 2500-MIPS VMs at
// 90 % then 90 % then 10 %, both placed on the G4 host at the start (memory first fit).
const inputs: TraceBenchInputs = {
  tracesDir: '/nonexistent',
  days: ['20110303'],
  quickDays: ['20110303'],
  seed: 7,
  sampleSeconds: 300,
  scenarios: [{ name: 'pair', hostCount: 2 }],
  hostTypes: [
    { name: 'g4', cores: 2, coreMips: 1860, memoryMiB: 4096, powerWattsAt0To100Percent: [86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117] },
    { name: 'g5', cores: 2, coreMips: 2660, memoryMiB: 4096, powerWattsAt0To100Percent: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135] },
  ],
  vmTypes: [{ name: 'medium', mips: 2500, memoryMiB: 870 }],
  networkMbps: 1000,
  migrationBandwidthShare: 0.5,
  migrationDegradationRatio: 0.1,
  initialPlacement: { method: 'memory-first-fit-decreasing' },
  windowSamples: 2,
  baselines: { cpuThresholdRatio: 0.8, maxMovesPerTick: 0 },
  engine: { cpuOvercommitRatio: 16, policyConfig: {} },
};
const day = {
  day: '20110303',
  vms: [
    { name: 'vm with space a', utilization: Float64Array.from([0.9, 0.9, 0.1]) },
    { name: 'vm with space b', utilization: Float64Array.from([0.9, 0.9, 0.1]) },
  ],
};

function emptyPlan(state: ClusterState): Plan {
  return { basedOnObservedAtMs: state.observedAtMs, moves: [], skipped: [], imbalanceBefore: 0, imbalanceAfter: 0, policyErrors: [] };
}

describe('engine adapter: ClusterState in, Plan out', () => {
  it('gives the engine utilisations whose CPU ratios equal the MIPS ratios', async () => {
    const seen: ClusterState[] = [];
    const balancer = engineBalancer((s) => (seen.push(s), emptyPlan(s)), inputs, 'fake');
    await replayDay({ inputs, scenario: inputs.scenarios[0], day, balancer });
    expect(seen).toHaveLength(2); // decisions after intervals 0 and 1, none after the last
    const first = seen[0];
    const g4 = first.hosts.find((h) => h.name === 'host0000')!;
    expect(g4.cpuCount).toBeCloseTo(3.72, 12);
    expect(g4.cpuUtilization.last).toBeCloseTo((2 * 0.9 * 2500) / 3720, 12);
    expect(g4.memoryUsedBytes).toBe(2 * 870 * 1048576);
    const vm = first.vms.find((v) => v.name === 'vm with space a')!;
    expect(vm.host).toBe('host0000');
    expect(vm.vcpus).toBe(2.5);
    // The engine's natural estimate of a VM's load on a host reproduces the host figure.
    const estimate = first.vms.filter((v) => v.host === 'host0000').reduce((sum, v) => sum + v.vcpus * v.cpuUtilization.last, 0) / g4.cpuCount;
    expect(estimate).toBeCloseTo(g4.cpuUtilization.last, 12);
    // Window of two samples at the second decision: mean of 0.9 and 0.9.
    expect(seen[1].vms[0].cpuUtilization).toMatchObject({ last: 0.9, mean: 0.9, samples: 2 });
    expect(seen[1].observedAtMs - first.observedAtMs).toBe(300_000);
  });

  it("applies the plan's moves and remembers them for cooldown and anti-ping-pong", async () => {
    const seen: ClusterState[] = [];
    const balancer = engineBalancer(
      (s) => {
        seen.push(s);
        const plan = emptyPlan(s);
        if (seen.length === 1) {
          const vm = s.vms[0];
          plan.moves.push({
            vmName: vm.name,
            vmUuid: vm.uuid,
            from: vm.host,
            to: 'host0001',
            technique: 'precopy',
            copyStorage: false,
            predicted: { totalSeconds: 14, downtimeMs: 30, bytes: vm.memoryBytes, converges: true },
            reason: 'test',
            gain: 0.1,
            inputs: { memoryBytes: vm.memoryBytes, dirtyRateMiBps: 0, bandwidthMiBps: 59.6, downtimeBudgetMs: 300 },
          });
        }
        return plan;
      },
      inputs,
      'fake',
    );
    const r = await replayDay({ inputs, scenario: inputs.scenarios[0], day, balancer });
    expect(r.migrations).toBe(1);
    expect(r.sla.slatah).toBeCloseTo(300 / (900 + 600), 12); // G4 overloaded in interval 0 only
    // CloudSim accounting: in interval 1 the VM left on the G4 asks 2250 MIPS of an 1860-MIPS core.
    expect(r.slatahCloudsimAccounting).toBeCloseTo(600 / 1500, 12);
    expect(seen[1].vms[0].host).toBe('host0001');
    expect(seen[1].lastMovedAtMs[seen[1].vms[0].uuid]).toBe(seen[0].observedAtMs);
    expect(seen[1].recentMoves).toEqual([{ vmUuid: seen[0].vms[0].uuid, from: 'host0000', to: 'host0001', atMs: seen[0].observedAtMs }]);
  });

  it('reports policy errors and unknown names as balancer errors, and the replay continues', async () => {
    const balancer = engineBalancer((s) => ({ ...emptyPlan(s), policyErrors: [{ policy: 'cpu', message: 'boom' }] }), inputs, 'fake');
    const r = await replayDay({ inputs, scenario: inputs.scenarios[0], day, balancer });
    expect(r.errors[0]).toMatch(/interval 0: policy errors: cpu: boom/);
    expect(r.migrations).toBe(0);
  });
});
