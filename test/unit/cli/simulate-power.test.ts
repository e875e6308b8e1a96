import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSimulationConfig } from '../../../src/sim/simulation-config.js';
import { ConfigError } from '../../../src/config/index.js';

const oneHostConsolidating = `hosts:\n  - { name: x, uri: "qemu+tcp://127.0.25.11/system" }\npolicy: { goal: consolidate }\n`;

describe('simulate with power:', () => {
  it('accepts a config with one host entry: the scenario brings the hosts (power.minAwakeHosts is not checked against the config hosts)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-sim-power-'));
    const file = join(dir, 'config.yaml');
    await writeFile(file, `${oneHostConsolidating}power:\n  action: command\n  powerOffCommand: [/bin/true]\n  powerOnCommand: [/bin/true]\n`);
    const config = await loadSimulationConfig(file);
    expect(config.power).toMatchObject({ action: 'command', powerOffCommand: ['/bin/true'], minAwakeHosts: 1 });
    expect(config.policy.goal).toBe('consolidate');
  });

  it('still reports a wrong power field, and the rest of the config', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-sim-power-'));
    const file = join(dir, 'config.yaml');
    await writeFile(file, `${oneHostConsolidating.replace('consolidate', 'consolidat')}power:\n  action: command\n  powerOffCommand: [/bin/true]\n`);
    const error = await loadSimulationConfig(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.path)).toEqual(['policy.goal', 'power.powerOnCommand']);
  });
});
