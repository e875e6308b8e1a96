import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderSimulation, simulationJson } from '../../../src/cli/format-simulate.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';

describe('simulate shows why a nominated VM stays', () => {
  it('in text (once, not repeated while the reason holds) and in --json', async () => {
    const scenario = scenarioSchema.parse(parse(readFileSync(join(import.meta.dirname, '../../cases/maintenance-busy-targets.scenario.yaml'), 'utf8')));
    const sim = new Simulator(scenario);
    const config = policySchema.parse({ maxMovesPerTick: 2 });
    const ticks = [await sim.tick({ config }), await sim.tick({ config })];
    const text = renderSimulation(ticks);
    expect(text).toMatch(/^ {10}stays m2: max moves per tick \(2\) reached; considered again next tick$/m);
    const json = simulationJson(ticks) as { skipped: { vm: string; reason: string }[] }[];
    expect(json[0].skipped).toEqual([{ vm: 'm2', reason: 'max moves per tick (2) reached; considered again next tick' }]);
    expect(json[1].skipped).toEqual([]);
  });

  it('a tick that repeats the stays and notices of the tick before says they still hold, instead of looking clear', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({
        hosts: [
          { name: 'kvm1', cpuCount: 8, memoryMiB: 16384, maintenance: true },
          { name: 'kvm2', cpuCount: 8, memoryMiB: 16384 },
        ],
        vms: [
          { name: 'big', host: 'kvm1', memoryMiB: 12000, cpu: 0.2 },
          { name: 'fill', host: 'kvm2', memoryMiB: 8000, cpu: 0.2 },
        ],
      }),
    );
    const config = policySchema.parse({});
    const text = renderSimulation([await sim.tick({ config }), await sim.tick({ config })]);
    const [, second] = text.split(/^tick +2 .*$/m);
    expect(second.trim()).toBe('(1 VM still stays, 1 notice still holds as on the tick before; --json lists every tick)');
    expect(text.match(/stays big: /g)).toHaveLength(1);
  });
});
