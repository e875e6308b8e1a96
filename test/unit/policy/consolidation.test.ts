import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { defaultPolicies } from '../../../src/policy/loader.js';
import type { HostObservation } from '../../../src/cluster/model.js';
import { windowedValue } from '../../../src/cluster/window.js';
import { windowForecast } from '../../../policies/consolidation.js';
import { host, state, vm } from './fixtures.js';

// Hosts of 4 CPUs: a 1-vCPU VM at 100 % is 25 points of its host.
const consolidate = policySchema.parse({
  goal: 'consolidate',
  cooldownSeconds: 600,
  maxMovesPerTick: 20,
  cpuHighPercent: 80,
  cpuLowPercent: 20,
  hysteresisPercent: 5,
  consolidation: { targetUtilizationPercent: 70 },
});

const withWindow = (h: HostObservation, w: Partial<HostObservation['cpuUtilization']>): HostObservation => ({
  ...h,
  cpuUtilization: { ...h.cpuUtilization, ...w },
});

describe('goal: consolidate', () => {
  it('runs the consolidation policy without listing it, and no spread balancing', async () => {
    expect(defaultPolicies(consolidate).map((p) => p.policy.name)).toContain('consolidation');
    expect(defaultPolicies(policySchema.parse({})).map((p) => p.policy.name)).not.toContain('consolidation');
    // a at 75 % (under cpuHigh 80), b and c at 22.5 %: balance spreads a (35 points above the mean,
    // tolerance 20); consolidating keeps it packed.
    const s = state([host('a'), host('b'), host('c')], [vm('a1', 'a', 1), vm('a2', 'a', 1), vm('a3', 'a', 1), vm('b1', 'b', 0.9), vm('c1', 'c', 0.9)]);
    const balanced = await plan(s, { config: policySchema.parse({ ...consolidate, goal: 'balance' }), memory: { spreadHeldTicks: new Map([['a', 5]]) } });
    expect(balanced.moves.some((m) => m.from === 'a')).toBe(true);
    const p = await plan(s, { config: consolidate });
    expect(p.moves.filter((m) => m.from === 'a')).toEqual([]);
  });

  it('empties the light hosts onto the fullest running host under the target, and wakes no empty host', async () => {
    // a 45 %, b 12.5 %, c 5 %, d empty. c (lightest) then b go to a: 45 + 5 + 12.5 = 62.5 % <= 70 %.
    const s = state(
      [host('a'), host('b'), host('c'), host('d')],
      [vm('a1', 'a', 0.9), vm('a2', 'a', 0.9), vm('b1', 'b', 0.5), vm('c1', 'c', 0.1), vm('c2', 'c', 0.1)],
    );
    const p = await plan(s, { config: consolidate });
    expect(p.moves.map((m) => [m.vmName, m.from, m.to])).toEqual([
      ['c1', 'c', 'a'],
      ['c2', 'c', 'a'],
      ['b1', 'b', 'a'],
    ]);
    expect(p.moves[0].reason).toMatch(/consolidate: host c CPU 5% \(forecast\) < 20%, its 2 VM\(s\) fit on other hosts under 70%/);
  });

  it('leaves a host whose VMs do not all fit under the target (no half-emptied host)', async () => {
    // a and d at 45 % each take one 5-point VM of b (50 % <= 50 %) but not a third.
    const cfg = policySchema.parse({ ...consolidate, consolidation: { targetUtilizationPercent: 50 } });
    const s = state(
      [host('a'), host('b'), host('d')],
      [vm('a1', 'a', 1), vm('a2', 'a', 0.8), vm('d1', 'd', 1), vm('d2', 'd', 0.8), vm('b1', 'b', 0.2), vm('b2', 'b', 0.2), vm('b3', 'b', 0.2)],
    );
    const p = await plan(s, { config: cfg });
    expect(p.moves).toEqual([]);
  });

  it('does not empty a host whose load is rising (least-squares forecast over the window)', async () => {
    const base = state([host('a'), host('b'), host('c')], [vm('a1', 'a', 0.9), vm('a2', 'a', 0.9), vm('b1', 'b', 0.4), vm('c1', 'c', 0.4)]);
    // b and c both at 10 %; b's window rises 2 points a sample: 10 + 2 x (4.5 + 1) = 21 % > 20 %.
    const s = {
      ...base,
      hosts: base.hosts.map((h) =>
        h.name === 'b' ? withWindow(h, { samples: 10, slopePerSample: 0.02 }) : h.name === 'c' ? withWindow(h, { samples: 10, slopePerSample: 0 }) : h,
      ),
    };
    const p = await plan(s, { config: consolidate });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['c1', 'a']]);
  });

  it('respects cooldown and no-ping-pong: a host with a VM in its cooldown stays, a VM is not packed back onto the host it just left', async () => {
    const vms = [vm('a1', 'a', 0.9), vm('a2', 'a', 0.9), vm('b1', 'b', 0.4), vm('c1', 'c', 0.3)];
    const now = 1_000_000;
    // b1 moved 60 s ago (cooldown 600 s): b is not emptied. c1 left a 700 s ago (out of its
    // cooldown, within the no-ping-pong window of 3 x cooldown): it goes to b, not back to a.
    const s = state([host('a'), host('b'), host('c')], vms, {
      lastMovedAtMs: { [vms[2].uuid]: now - 60_000, [vms[3].uuid]: now - 700_000 },
      recentMoves: [
        { vmUuid: vms[2].uuid, from: 'a', to: 'b', atMs: now - 60_000 },
        { vmUuid: vms[3].uuid, from: 'a', to: 'c', atMs: now - 700_000 },
      ],
    });
    const p = await plan(s, { config: consolidate });
    expect(p.moves.map((m) => [m.vmName, m.from, m.to])).toEqual([['c1', 'c', 'b']]);
  });

  describe('consolidation.packing', () => {
    // 10-sample windows. a: a1 busy at even samples (1 vCPU at 100 %), a2 steady at 80 %: a is at
    // 45 % at even samples, 20 % at odd ones. b: b1 (0.6 at some samples) alone, 7.5-15 % on average: light.
    const alternating = (even: number, odd: number) => Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? even : odd));
    const sum = (...xs: number[][]) => xs[0].map((_, i) => xs.reduce((a, x) => a + x[i], 0));
    const scenario = (b1Series: number[]) => {
      const a1 = vm('a1', 'a', 0, { cpuUtilization: windowedValue(alternating(1, 0)) });
      const a2 = vm('a2', 'a', 0, { cpuUtilization: windowedValue(alternating(0.8, 0.8)) });
      const b1 = vm('b1', 'b', 0, { cpuUtilization: windowedValue(b1Series) });
      const hostWindow = (...vs: (typeof a1)[]) => windowedValue(sum(...vs.map((v) => v.cpuUtilization.series!.map((x) => x / 4))));
      return {
        observedAtMs: 1_000_000,
        hosts: [
          host('a', { cpuUtilization: hostWindow(a1, a2), memoryUsedBytes: 2 * 2 ** 30 }),
          host('b', { cpuUtilization: hostWindow(b1), memoryUsedBytes: 2 ** 30 }),
        ],
        vms: [a1, a2, b1],
        inFlight: [],
        lastMovedAtMs: {},
        recentMoves: [],
      };
    };
    // Target 55 %: a's p90 45 % plus b1's peak 15 % is 60 %.
    const cfg = (packing: 'vm-peaks' | 'summed-window') => policySchema.parse({ ...consolidate, consolidation: { targetUtilizationPercent: 55, packing } });

    it('vm-peaks (the default) adds the VM peak to the host forecast, as if both peaked at once', async () => {
      expect(consolidate.consolidation.packing).toBe('vm-peaks');
      const p = await plan(scenario(alternating(0, 0.6)), { config: cfg('vm-peaks') });
      expect(p.moves).toEqual([]);
    });

    it('summed-window packs a VM whose peaks fall where the target is quiet (p90 of the per-instant sum)', async () => {
      // b1 busy at odd samples: a + b1 is 45 % / 35 %, p90 45 % <= 55 %.
      const p = await plan(scenario(alternating(0, 0.6)), { config: cfg('summed-window') });
      expect(p.moves.map((m) => [m.vmName, m.from, m.to])).toEqual([['b1', 'b', 'a']]);
    });

    it('summed-window still refuses a VM that peaks with the target (60 % at the same samples)', async () => {
      const p = await plan(scenario(alternating(0.6, 0)), { config: cfg('summed-window') });
      expect(p.moves).toEqual([]);
    });

    it('windowForecast: the p90, or the least-squares line extended ahead when the load rises', () => {
      // mean 0.3, slope 0.1 a sample: 0.3 + 0.1 x (2 + 1) = 0.6 one sample past the newest.
      expect(windowForecast([0.1, 0.2, 0.3, 0.4, 0.5], 1)).toBeCloseTo(0.6, 10);
      // falling: the trend is not trusted, the p90 (nearest rank: the highest of five) stands.
      expect(windowForecast([0.5, 0.4, 0.3, 0.2, 0.1], 1)).toBeCloseTo(0.5, 10);
      expect(windowForecast([], 1)).toBe(0);
    });
  });

  it('refuses a target utilisation that packed hosts would count as overloaded', () => {
    const r = policySchema.safeParse({ goal: 'consolidate', cpuHighPercent: 80, hysteresisPercent: 5, consolidation: { targetUtilizationPercent: 90 } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0].path).toEqual(['consolidation', 'targetUtilizationPercent']);
    expect(r.error!.issues[0].message).toMatch(/at most cpuHighPercent less hysteresisPercent \(75\)/);
  });
});
