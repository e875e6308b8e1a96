/**
 * Issue 24, kind 2: a move's gain and its cost in one unit (src/policy/move-cost.ts), so the
 * decision is scale-free: the same cluster with every memory size x16 or /16 makes the same moves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { policySchema } from '../../../src/config/policy-schema.js';
import { predictTechnique } from '../../../src/policy/chooser.js';
import { scenarioSchema, Simulator, type Scenario, type SimTick } from '../../../src/sim/simulator.js';

const config = policySchema.parse({});
const pileup = () => scenarioSchema.parse(parse(readFileSync(join(import.meta.dirname, '../../cases', 'idle-pileup-after-failover.scenario.yaml'), 'utf8')));

/**
 * The scenario with every memory size (hosts and VMs) times `factor`, its moves slowed or sped up
 * so that each lasts as long as at x1: the simulator honours run's admission limits (one migration
 * leaving a host at once), and a 16x longer move would hold the queue 16x longer, which is time,
 * not a decision. A move's predicted time is not proportional to its memory (the fixed set-up,
 * chooser.ts setupSeconds), so the factor is the ratio of the predicted times of the scenario's
 * most common VM size (idle, moved by pre-copy) at x1 and at the new size: exact for the pile-up,
 * whose VMs are all 8 GiB.
 */
function scaled(s: Scenario, factor: number): Scenario {
  const count = new Map<number, number>();
  for (const v of s.vms) count.set(v.memoryMiB, (count.get(v.memoryMiB) ?? 0) + 1);
  const [[memoryMiB]] = [...count.entries()].sort((a, b) => b[1] - a[1]);
  const seconds = (memoryMiB: number) =>
    predictTechnique('precopy', {
      memoryBytes: memoryMiB * 2 ** 20,
      dirtyRateMiBps: 0,
      bandwidthMiBps: config.bandwidthMiBps,
      downtimeBudgetMs: config.downtimeBudgetMs,
    }).totalSeconds;
  return {
    ...s,
    migrationTimeFactor: (s.migrationTimeFactor * seconds(memoryMiB)) / seconds(memoryMiB * factor),
    hosts: s.hosts.map((h) => ({ ...h, memoryMiB: h.memoryMiB * factor })),
    vms: s.vms.map((v) => ({ ...v, memoryMiB: v.memoryMiB * factor })),
  };
}

async function run(scenario: Scenario, ticks: number): Promise<{ sim: Simulator; ticks: SimTick[] }> {
  const sim = new Simulator(scenario);
  const out: SimTick[] = [];
  for (let i = 0; i < ticks; i++) out.push(await sim.tick({ config }));
  return { sim, ticks: out };
}

function memoryRatios(sim: Simulator): Record<string, number> {
  return Object.fromEntries(sim.state().hosts.map((h) => [h.name, h.memoryUsedBytes / h.memoryTotalBytes]));
}

/** The pile-up's expected value (cases README), for any memory scale. */
async function expectSpread(scenario: Scenario): Promise<SimTick[]> {
  const { sim, ticks } = await run(scenario, 60);
  const moves = ticks.flatMap((t) => t.moves);
  const memory = memoryRatios(sim);
  const mean = (memory.kvm1 + memory.kvm2 + memory.kvm3) / 3;
  expect(mean).toBeCloseTo(0.25, 9);
  expect(memory.kvm1 - mean).toBeLessThanOrEqual(0.1);
  const count = (host: string) => sim.state().vms.filter((v) => v.host === host).length;
  expect(count('kvm1')).toBeLessThanOrEqual(11);
  expect(count('kvm2')).toBeGreaterThanOrEqual(5);
  expect(count('kvm3')).toBeGreaterThanOrEqual(5);
  expect(Math.max(...ticks.map((t) => t.moves.length))).toBeLessThanOrEqual(2);
  expect(new Set(moves.map((m) => m.vmName)).size).toBe(moves.length);
  return ticks;
}

const movesOf = (ticks: SimTick[]) => ticks.map((t) => t.moves.map((m) => `${m.vmName}:${m.from}->${m.to}`).join(' '));

describe('idle-pileup-after-failover (bigstack-oss/cubecos#1131)', () => {
  it('within 60 ticks kvm1 is at most 10 points above the mean memory use; kvm2 and kvm3 get at least 5 VMs each; at most 2 moves a tick; no VM moved twice', async () => {
    await expectSpread(pileup());
  });

  it('the same at x16 and /16 memory sizes (128 GiB VMs on 4 TiB hosts; 512 MiB VMs on 16 GiB hosts; moves outlast a tick at every size), with the same moves', async () => {
    const base = movesOf(await expectSpread(pileup()));
    expect(movesOf(await expectSpread(scaled(pileup(), 16)))).toEqual(base);
    expect(movesOf(await expectSpread(scaled(pileup(), 1 / 16)))).toEqual(base);
  });

  it('the "not moved" line weighs gain against cost in one unit: the share of the source host a move sends, the same at every size', async () => {
    // The affinity case once its group has landed on kvm1 (38 % memory against 13 %): other-1
    // (16 GiB of 128) would even the two, for less than its cost.
    const group = scenarioSchema.parse(parse(readFileSync(join(import.meta.dirname, '../../cases', 'affinity-group-maintenance.scenario.yaml'), 'utf8')));
    const reasons = async (factor: number) => {
      const { ticks } = await run(scaled(group, factor), 8);
      return ticks.flatMap((t) => t.skipped.filter((s) => s.vmName === 'other-1').map((s) => s.reason)).filter((r) => r.includes('not more than the cost'));
    };
    const [one, big] = [await reasons(1), await reasons(16)];
    expect(one.length).toBeGreaterThan(0);
    expect(one[0]).toMatch(
      /kvm2 reduces the objective by 0\.0313, not more than the cost 0\.0469 \(sends 16 GiB = 12\.5 % of kvm1's 128 GiB, squared x moveCostWeight 3\)/,
    );
    expect(big[0]).toMatch(/sends 256 GiB = 12\.5 % of kvm1's 2048 GiB, squared x moveCostWeight 3\)/);
    // The figures of gain and cost are the same numbers at both sizes.
    const figures = (r: string) => r.match(/by (\S+), not more than the cost (\S+)/)?.slice(1);
    expect(figures(big[0])).toEqual(figures(one[0]));
  });
});

describe('the decision does not depend on host size (property)', () => {
  it('any memory scale between /16 and x16 makes the same moves, tick by tick (moves complete within their tick)', async () => {
    // Moves complete at once here so that only the decision is compared (how long a 128 GiB move
    // lasts is shown by the test above).
    const instant = { ...pileup(), migrationTimeFactor: 0 };
    const base = movesOf((await run(instant, 30)).ticks);
    expect(base.filter((m) => m !== '').length).toBeGreaterThan(4);
    await fc.assert(
      fc.asyncProperty(fc.double({ min: 1 / 16, max: 16, noNaN: true }), async (factor) => {
        expect(movesOf((await run(scaled(instant, factor), 30)).ticks)).toEqual(base);
      }),
      { numRuns: 12, examples: [[16], [1 / 16], [2], [0.5]] },
    );
  });

  it('a CPU pile-up moves the same VMs at any memory size: the CPU gain is weighed against the share of memory a move sends', async () => {
    // Six busy VMs on kvm1 (90 % CPU), memory 20 % everywhere: hot-spot relief.
    const cpuPile = (factor: number): Scenario =>
      scenarioSchema.parse({
        tickSeconds: 30,
        windowSamples: 3,
        migrationTimeFactor: 0,
        hosts: [
          { name: 'kvm1', cpuCount: 16, memoryMiB: 131072 * factor },
          { name: 'kvm2', cpuCount: 16, memoryMiB: 131072 * factor },
          { name: 'kvm3', cpuCount: 16, memoryMiB: 131072 * factor },
        ],
        vms: [
          ...[1, 2, 3, 4, 5, 6].map((i) => ({ name: `busy-${i}`, host: 'kvm1', vcpus: 4, memoryMiB: 4096 * (i % 3 === 0 ? 2 : 1) * factor, cpu: 0.6 })),
          { name: 'calm-2', host: 'kvm2', vcpus: 2, memoryMiB: 26214 * factor, cpu: 0.2 },
          { name: 'calm-3', host: 'kvm3', vcpus: 2, memoryMiB: 26214 * factor, cpu: 0.2 },
        ],
      });
    const base = movesOf((await run(cpuPile(1), 20)).ticks);
    expect(base.join(' ').trim().length).toBeGreaterThan(0);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1 / 16, 1 / 4, 4, 16), async (factor) => {
        expect(movesOf((await run(cpuPile(factor), 20)).ticks)).toEqual(base);
      }),
      { numRuns: 4 },
    );
  });
});

describe('the decision does not depend on how many VMs carry a load (fresh-user find)', () => {
  /** kvm1 at 90 % CPU from `count` VMs of 1 vCPU each on 16 CPUs (memory 9 %), kvm2 and kvm3 idle. */
  const cpuOnly = (count: number): Scenario =>
    scenarioSchema.parse({
      tickSeconds: 30,
      windowSamples: 5,
      hosts: ['kvm1', 'kvm2', 'kvm3'].map((name) => ({ name, cpuCount: 16, memoryMiB: 65536 })),
      vms: Array.from({ length: count }, (_, i) => {
        // Each VM carries 1/count of 14.4 CPUs' worth of load: on as many vCPUs as that needs.
        const load = (0.9 * 16) / count;
        const vcpus = Math.ceil(load);
        return { name: `busy-${i + 1}`, host: 'kvm1', vcpus, memoryMiB: 6144 / count, cpu: load / vcpus };
      }),
    });
  const kvm1Cpu = (sim: Simulator) => sim.state().hosts.find((h) => h.name === 'kvm1')!.cpuUtilization.mean;

  it('90 % CPU carried by 6, 12 or 24 VMs ends at the same CPU on kvm1, at or below the CPU spread floor (50 %)', async () => {
    // An absolute spread margin per move (0.08) stopped 24 small VMs at 75 % and 12 at 67.5 %,
    // while six large ones spread to 45 %: no single small VM could gain that much.
    const ends: number[] = [];
    for (const count of [6, 12, 24]) {
      const { sim } = await run(cpuOnly(count), 40);
      ends.push(kvm1Cpu(sim));
    }
    for (const end of ends) expect(end).toBeLessThanOrEqual(0.5);
    expect(ends[1]).toBeCloseTo(ends[0], 9);
    expect(ends[2]).toBeCloseTo(ends[0], 9);
  });
});
