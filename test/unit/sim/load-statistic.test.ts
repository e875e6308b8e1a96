/**
 * Issue 24, kind 3: a host's window statistics come from the host's own samples, or from the
 * per-instant sum of its VMs' samples then the quantile, never from the sum of the VMs' p90s; and
 * a target's p90 after a planned move is the p90 of the per-instant sums too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { summedWindow, windowedValue } from '../../../src/cluster/window.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { scenarioSchema, Simulator, type SimTick } from '../../../src/sim/simulator.js';

const config = policySchema.parse({});
const load = (file: string) => scenarioSchema.parse(parse(readFileSync(join(import.meta.dirname, '../../cases', file), 'utf8')));

async function run(sim: Simulator, ticks: number): Promise<SimTick[]> {
  const out: SimTick[] = [];
  for (let i = 0; i < ticks; i++) out.push(await sim.tick({ config }));
  return out;
}

describe('many-small-vms-overshoot (credativ/ProxLB#44)', () => {
  it('within 60 ticks kvm1 falls below 80 %; no overshoot (kvm1 not more than 15 points below the busiest other host); at most 20 moves, at most 2 a tick, no VM moved twice', async () => {
    const sim = new Simulator(load('many-small-vms-overshoot.scenario.yaml'));
    const ticks = await run(sim, 60);
    const moves = ticks.flatMap((t) => t.moves);
    const end = sim.state();
    const cpu = Object.fromEntries(end.hosts.map((h) => [h.name, h.cpuUtilization.mean]));
    expect(ticks.some((t) => t.hostCpu.kvm1 < 0.8)).toBe(true);
    expect(cpu.kvm1).toBeLessThan(0.8);
    expect(cpu.kvm1).toBeGreaterThanOrEqual(Math.max(cpu.kvm2, cpu.kvm3) - 0.15);
    expect(moves.length).toBeGreaterThan(0);
    expect(moves.length).toBeLessThanOrEqual(20);
    expect(Math.max(...ticks.map((t) => t.moves.length))).toBeLessThanOrEqual(2);
    expect(new Set(moves.map((m) => m.vmName)).size).toBe(moves.length);
  });

  it("a host's p90 is the p90 of its VMs' per-instant sum: kvm2's 40 phase-shifted VMs read about 63 %, not the 98 % their summed p90s make", async () => {
    const sim = new Simulator(load('many-small-vms-overshoot.scenario.yaml'));
    // Five ticks without moves fill every window.
    for (let i = 0; i < 5; i++) await sim.tick({ config: policySchema.parse({ maxMovesPerTick: 0 }) });
    const state = sim.state();
    const kvm2 = state.hosts.find((h) => h.name === 'kvm2')!;
    const summedP90s = state.vms.filter((v) => v.host === 'kvm2').reduce((s, v) => s + (v.cpuUtilization.p90 * v.vcpus) / kvm2.cpuCount, 0);
    expect(summedP90s).toBeGreaterThan(0.95);
    expect(kvm2.cpuUtilization.p90).toBeLessThan(0.66);
    expect(kvm2.cpuUtilization.p90).toBeGreaterThanOrEqual(kvm2.cpuUtilization.mean);
  });
});

describe('summed windows', () => {
  it('per instant, aligned at the newest sample; a VM seen for fewer ticks counts at its mean where it has no sample', () => {
    const a = windowedValue([0.1, 0.9, 0.1, 0.9]);
    const b = windowedValue([0.9, 0.1, 0.9, 0.1]);
    const c = windowedValue([0.5]);
    const w = summedWindow(
      [
        { window: a, weight: 1 },
        { window: b, weight: 1 },
        { window: c, weight: 2 },
      ],
      10,
    );
    expect(w.series).toEqual([2, 2, 2, 2]);
    expect(w.p90).toBe(2);
    // The sum of the p90s would say 0.9 + 0.9 + 1 = 2.8.
    expect(a.p90 + b.p90 + 2 * c.p90).toBeCloseTo(2.8);
  });
});

describe("a target's p90 after a planned move (projection)", () => {
  it('is the p90 of the per-instant sum: two anti-correlated VMs fit where the sum of their p90s would not', async () => {
    // b runs a VM busy on even ticks; the candidate from a is busy on odd ticks. Each alone peaks
    // at 70 % of b, so b's p90 plus the candidate's share (70 % + 28 %, the sum the engine made
    // before) is over 75 % (cpuHigh 80 less hysteresis); per instant b stays at 70 %.
    const even = [0.7, 0, 0.7, 0, 0.7];
    const odd = [0, 0.7, 0, 0.7, 0];
    const vm = (name: string, host: string, series: number[], vcpus: number) => ({
      name,
      uuid: `00000000-0000-4000-8000-${name.padStart(12, '0')}`,
      host,
      state: 'running' as const,
      vcpus,
      cpuUtilization: windowedValue(series),
      memoryBytes: 2 ** 30,
      maxMemoryBytes: 2 ** 30,
      jobRunning: false,
      disksShared: true,
      localDiskBytes: 0,
      tags: [],
    });
    const vms = [vm('b1', 'b', even, 4), vm('a1', 'a', odd, 4), ...[2, 3, 4, 5].map((i) => ({ ...vm(`a${i}`, 'a', [1, 1, 1, 1, 1], 1), tags: ['pinned'] }))];
    const host = (name: string) => {
      const mine = vms.filter((v) => v.host === name);
      return {
        name,
        uri: `test:///${name}`,
        up: true,
        maintenance: false,
        cpuCount: 4,
        memoryTotalBytes: 64 * 2 ** 30,
        cpuOvercommitRatio: 4,
        memoryOvercommitRatio: 1,
        cpuUtilization: summedWindow(
          mine.map((v) => ({ window: v.cpuUtilization, weight: v.vcpus / 4 })),
          5,
        ),
        memoryUsedBytes: mine.length * 2 ** 30,
        labels: {},
      };
    };
    const state = { observedAtMs: 0, hosts: [host('a'), host('b')], vms, inFlight: [], lastMovedAtMs: {}, recentMoves: [] };
    const result = await plan(state, { config: policySchema.parse({ cooldownSeconds: 0, maxMovesPerTick: 1 }) });
    expect(
      result.moves.map((m) => [m.vmName, m.to]),
      JSON.stringify(result.skipped),
    ).toEqual([['a1', 'b']]);
  });
});
