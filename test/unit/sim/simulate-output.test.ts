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
});
