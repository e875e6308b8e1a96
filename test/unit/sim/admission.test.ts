/**
 * `simulate` runs under the admission `run` applies (policy/scheduling.ts): case
 * sim-ignores-admission-limits (test/cases/, a copy of ../shared/cases) and queued moves starting
 * the moment a slot frees.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { renderSimulation, simulationJson } from '../../../src/cli/format-simulate.js';
import { scenarioSchema, Simulator, type SimMigrationSpan } from '../../../src/sim/simulator.js';

const config = policySchema.parse({});
const load = (file: string) => scenarioSchema.parse(parse(readFileSync(join(import.meta.dirname, '../../cases', file), 'utf8')));

/** The most spans running at one instant (a span is [startedAtMs, doneAtMs): one ending as another starts do not overlap). */
function mostAtOnce(spans: readonly SimMigrationSpan[]): number {
  const events = spans.flatMap((s) => [
    { at: s.startedAtMs, d: 1 },
    { at: s.doneAtMs, d: -1 },
  ]);
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of events) {
    now += e.d;
    most = Math.max(most, now);
  }
  return most;
}

describe('case sim-ignores-admission-limits', () => {
  it('never has more than 1 migration leaving kvm1 at once nor more than 2 in the cluster (the defaults run applies)', async () => {
    const sim = new Simulator(load('sim-ignores-admission-limits.scenario.yaml'));
    for (let i = 0; i < 30; i++) await sim.tick({ config });
    const spans = sim.migrations();
    // The drain happened: all six left kvm1, each once.
    expect(spans.map((s) => s.vmName).sort()).toEqual(['big-1', 'big-2', 'big-3', 'big-4', 'big-5', 'big-6']);
    expect(spans.every((s) => s.from === 'kvm1')).toBe(true);
    expect(mostAtOnce(spans.filter((s) => s.from === 'kvm1'))).toBe(1);
    expect(mostAtOnce(spans)).toBeLessThanOrEqual(2);
  });

  it('starts each queued move the moment the one before it ends (no waiting for the next tick)', async () => {
    const sim = new Simulator(load('sim-ignores-admission-limits.scenario.yaml'));
    for (let i = 0; i < 30; i++) await sim.tick({ config });
    const spans = [...sim.migrations()].sort((a, b) => a.startedAtMs - b.startedAtMs);
    // Each move is longer than a tick (~65 s against 30 s): a tick-bound start would leave gaps.
    expect(spans[0].doneAtMs - spans[0].startedAtMs).toBeGreaterThan(30_000);
    for (let i = 1; i < spans.length; i++) expect(spans[i].startedAtMs).toBe(spans[i - 1].doneAtMs);
  });

  it("follows the config's budgets: maxPerSourceHost 2 lets two leave kvm1 at once", async () => {
    const sim = new Simulator(load('sim-ignores-admission-limits.scenario.yaml'));
    const migration = migrationSchema.parse({ maxPerSourceHost: 2, maxConcurrent: 4 });
    for (let i = 0; i < 30; i++) await sim.tick({ config, migration });
    expect(mostAtOnce(sim.migrations())).toBe(2);
  });
});

describe('simulate output shows the queue', () => {
  it('in text and in --json', async () => {
    const sim = new Simulator(load('sim-ignores-admission-limits.scenario.yaml'));
    const ticks = [await sim.tick({ config })];
    expect(ticks[0].moves).toHaveLength(1);
    // policy.maxMovesPerTick (2) plans two; one leaves kvm1 now, the other waits for it.
    expect(ticks[0].queued).toHaveLength(1);
    expect(renderSimulation(ticks)).toMatch(new RegExp(`^ {10}queued for a slot: ${ticks[0].queued[0]}$`, 'm'));
    expect((simulationJson(ticks) as { queued: string[] }[])[0].queued).toEqual(ticks[0].queued);
  });
});

describe('VM priority under the per-tick move budget (fresh-user find)', () => {
  it('a drain of six equal VMs starts the one with policy.vmPriorities 10 first, at the default maxMovesPerTick', async () => {
    const scenario = scenarioSchema.parse({
      migrationTimeFactor: 3,
      hosts: [
        { name: 'kvm1', cpuCount: 32, memoryMiB: 524288, maintenance: true },
        { name: 'kvm2', cpuCount: 32, memoryMiB: 524288 },
        { name: 'kvm3', cpuCount: 32, memoryMiB: 524288 },
      ],
      vms: [1, 2, 3, 4, 5, 6].map((i) => ({ name: `v${i}`, host: 'kvm1', vcpus: 4, memoryMiB: 32768, cpu: 0.2 })),
    });
    const policy = policySchema.parse({ vmPriorities: { v6: 10 } });
    expect(policy.maxMovesPerTick).toBe(2);
    const sim = new Simulator(scenario);
    // The engine's cut to two moves a tick kept v1 and v2 (the list's order): v6 started at tick 7.
    const first = await sim.tick({ config: policy, migration: migrationSchema.parse({}) });
    expect(first.moves.map((m) => m.vmName)[0]).toBe('v6');
  });
});
