/**
 * Reported failures (test/cases/, issue 14) run through the simulator, which builds its state as
 * the collector does and plans with the real engine and the config's policies.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../../src/config/index.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { definePolicy } from '../../../src/policy/api.js';
import { loadPolicies } from '../../../src/policy/index.js';
import type { LoadedPolicy } from '../../../src/policy/loader.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';
import { renderSimulation, simulationJson } from '../../../src/cli/format-simulate.js';

const cases = join(import.meta.dirname, '../../cases');
const GiBinMiB = 1024;

async function scenarioFile(name: string) {
  return scenarioSchema.parse(parse(await readFile(join(cases, name), 'utf8')));
}

describe('policy.pinnedVms in the simulator (case pinned-by-config)', () => {
  it('tick 1 moves app-1, and db-1 never moves', async () => {
    const config = await loadConfig(join(cases, 'pinned-by-config.config.yaml'));
    const policies = await loadPolicies(config.policy);
    const sim = new Simulator(await scenarioFile('pinned-by-config.scenario.yaml'));
    const ticks = [];
    for (let i = 0; i < 20; i++) ticks.push(await sim.tick({ config: config.policy, policies }));
    expect(ticks[0].moves.map((m) => m.vmName)).toEqual(['app-1']);
    expect(ticks.flatMap((t) => t.moves).map((m) => m.vmName)).not.toContain('db-1');
    expect(sim.where('db-1')).toBe('kvm1');
    // With app-1 and app-3 out of the way the host stays hot, and db-1 is refused for its pin, saying so.
    const alone = new Simulator(await scenarioFile('pinned-by-config.scenario.yaml'));
    const withoutApp1 = { ...config.policy, ignoredVms: ['app-1', 'app-3'] };
    const first = await alone.tick({ config: withoutApp1, policies });
    expect(first.moves.map((m) => m.vmName)).not.toContain('db-1');
    expect(first.skipped.find((s) => s.vmName === 'db-1')?.reason).toMatch(/pinned/);
  });
});

describe('the ratio-thresholds scenario with the thresholds the operator meant', () => {
  it('moves nothing when every host is below 5 % CPU and ~20 % memory', async () => {
    const sim = new Simulator(await scenarioFile('ratio-thresholds.scenario.yaml'));
    const config = policySchema.parse({ cpuHighPercent: 80, cpuLowPercent: 20, memoryHighPercent: 85, hysteresisPercent: 5 });
    for (let i = 0; i < 10; i++) expect((await sim.tick({ config })).moves).toEqual([]);
  });
});

describe('simulate shows policy errors', () => {
  it('in text and in --json', async () => {
    const broken: LoadedPolicy = {
      policy: definePolicy({
        name: 'broken',
        filter: () => {
          throw new Error('options.rack is not set');
        },
      }),
      weight: 1,
      options: {},
      source: 'test',
    };
    const config = policySchema.parse({});
    const sim = new Simulator(await scenarioFile('pinned-by-config.scenario.yaml'));
    const policies = [...(await loadPolicies(config)), broken];
    const ticks = [await sim.tick({ config, policies })];
    expect(ticks[0].policyErrors.length).toBeGreaterThan(0);
    const text = renderSimulation(ticks);
    expect(text).toContain('policy error: broken');
    expect(text).toContain('options.rack is not set');
    const json = simulationJson(ticks) as { policyErrors: { policy: string; message: string }[] }[];
    expect(json[0].policyErrors[0]).toMatchObject({ policy: 'broken', message: expect.stringContaining('options.rack is not set') });
  });
});

describe('hugepage pools (issue 14, case 4)', () => {
  // Three 256 GiB hosts with 200 GiB of 2 MiB hugepages each; kvm1 at 92 % CPU; its VMs are
  // hugepage-backed. kvm4 is the coolest host but its pool has only 8 GiB free.
  const pool = { pageSizeKiB: 2048, pages: 102_400 };
  const scenario = scenarioSchema.parse({
    tickSeconds: 30,
    windowSamples: 3,
    hosts: [
      { name: 'kvm1', cpuCount: 32, memoryMiB: 256 * GiBinMiB, hugepages: [pool] },
      { name: 'kvm2', cpuCount: 32, memoryMiB: 256 * GiBinMiB, hugepages: [pool] },
      { name: 'kvm3', cpuCount: 32, memoryMiB: 256 * GiBinMiB, hugepages: [pool] },
      { name: 'kvm4', cpuCount: 32, memoryMiB: 256 * GiBinMiB, hugepages: [{ pageSizeKiB: 2048, pages: 4096 }] },
    ],
    vms: [
      ...[1, 2, 3, 4, 5, 6].map((i) => ({ name: `hp-${i}`, host: 'kvm1', vcpus: 8, memoryMiB: 16 * GiBinMiB, cpu: 0.6133, hugepageSizeKiB: 2048 })),
      ...[2, 3].flatMap((h) =>
        [1, 2, 3, 4].map((i) => ({ name: `hp-${h}${i}`, host: `kvm${h}`, vcpus: 8, memoryMiB: 16 * GiBinMiB, cpu: 0.3, hugepageSizeKiB: 2048 })),
      ),
      { name: 'plain-1', host: 'kvm1', vcpus: 1, memoryMiB: 16 * GiBinMiB, cpu: 0 },
      { name: 'idle-4', host: 'kvm4', vcpus: 1, memoryMiB: 1024, cpu: 0.05 },
    ],
  });

  it('hugepage pools are outside ordinary memory: kvm1 reads 16 GiB of 56 GiB used, not 90 %', () => {
    const kvm1 = new Simulator(scenario).state().hosts.find((h) => h.name === 'kvm1')!;
    expect(kvm1.memoryTotalBytes).toBe(56 * 2 ** 30);
    expect(kvm1.memoryUsedBytes).toBe(16 * 2 ** 30);
    expect(kvm1.hugepages).toEqual([{ pageSizeKiB: 2048, totalPages: 102_400, freePages: 102_400 - 6 * 8192 }]);
  });

  it('kvm1 is relieved onto hosts with free pages of the size, never onto kvm4 whose pool is too small', async () => {
    const sim = new Simulator(scenario);
    const config = policySchema.parse({});
    const ticks = [];
    for (let i = 0; i < 10; i++) ticks.push(await sim.tick({ config }));
    const moves = ticks.flatMap((t) => t.moves);
    expect(moves.length).toBeGreaterThan(0);
    const hugepageMoves = moves.filter((m) => m.vmName.startsWith('hp-'));
    expect(hugepageMoves.length).toBeGreaterThan(0);
    expect(hugepageMoves.every((m) => m.from === 'kvm1' && ['kvm2', 'kvm3'].includes(m.to))).toBe(true);
    // plain-1 (ordinary memory, 16 of kvm1's 56 GiB outside the pool) may leave as a memory spread
    // move; only it: no other VM moves.
    expect(moves.filter((m) => !m.vmName.startsWith('hp-')).map((m) => [m.vmName, /spread: host kvm1 .*memory 29% is 21 points above/.test(m.reason)])).toEqual(
      moves.some((m) => m.vmName === 'plain-1') ? [['plain-1', true]] : [],
    );
    expect(ticks.at(-1)!.hostCpu.kvm1).toBeLessThan(0.8);
  });
});

describe('shut-off domains hold no memory (issue 14, case 5)', () => {
  it('kvm2 sheds its 12 GiB VM to kvm1, whose 80 GiB of shut-off definitions do not count', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({
        tickSeconds: 30,
        windowSamples: 3,
        hosts: [
          { name: 'kvm1', cpuCount: 16, memoryMiB: 128 * GiBinMiB },
          { name: 'kvm2', cpuCount: 16, memoryMiB: 128 * GiBinMiB },
        ],
        vms: [
          { name: 'web-1', host: 'kvm1', vcpus: 4, memoryMiB: 20 * GiBinMiB, cpu: 0.2 },
          { name: 'web-2', host: 'kvm1', vcpus: 4, memoryMiB: 20 * GiBinMiB, cpu: 0.2 },
          ...[1, 2, 3, 4].map((i) => ({ name: `template-${i}`, host: 'kvm1', vcpus: 4, memoryMiB: 20 * GiBinMiB, cpu: 0, state: 'shutoff' })),
          { name: 'hot-1', host: 'kvm2', vcpus: 8, memoryMiB: 12 * GiBinMiB, cpu: 1.0 },
          { name: 'big-2', host: 'kvm2', vcpus: 8, memoryMiB: 100 * GiBinMiB, cpu: 0.7 },
        ],
      }),
    );
    const kvm1 = sim.state().hosts.find((h) => h.name === 'kvm1')!;
    expect(kvm1.memoryUsedBytes).toBe(40 * 2 ** 30);
    const tick = await sim.tick({ config: policySchema.parse({}) });
    expect(tick.moves.map((m) => [m.vmName, m.to])).toEqual([['hot-1', 'kvm1']]);
  });
});
