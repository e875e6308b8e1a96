/**
 * The simulator's guest CPUs as libvirt's domain XML would give them (issue 24, kind 1; a
 * fresh-user find): no cpuModel is the hypervisor's default CPU (no <cpu>), which needs nothing of
 * its host beyond the features it requires; a named model needs that model's features.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';

const ICELAKE = ['sse4.2', 'avx', 'avx2', 'avx512f', 'avx512vnni', 'clwb'];
const HASWELL = ['sse4.2', 'avx', 'avx2'];

/** kvm1 (Icelake) in maintenance; `old` (Haswell) is the only target. */
const scenario = scenarioSchema.parse({
  migrationTimeFactor: 0,
  hosts: [
    { name: 'kvm1', cpuCount: 16, memoryMiB: 131072, maintenance: true, cpuModel: 'Icelake-Server', cpuFeatures: ICELAKE },
    { name: 'old', cpuCount: 16, memoryMiB: 131072, cpuModel: 'Haswell', cpuFeatures: HASWELL },
  ],
  vms: [
    { name: 'plain', host: 'kvm1', vcpus: 2, memoryMiB: 4096, cpu: 0.2 },
    { name: 'needs-avx2', host: 'kvm1', vcpus: 2, memoryMiB: 4096, cpu: 0.2, cpuFeatures: ['avx2'] },
    { name: 'needs-avx512', host: 'kvm1', vcpus: 2, memoryMiB: 4096, cpu: 0.2, cpuFeatures: ['avx512f'] },
    { name: 'icelake', host: 'kvm1', vcpus: 2, memoryMiB: 4096, cpu: 0.2, cpuModel: 'Icelake-Server' },
  ],
});

describe('guest CPUs in the simulator', () => {
  it('moves a guest without a CPU model and one requiring only what the target has; refuses the rest, naming the features', async () => {
    const sim = new Simulator(scenario);
    const config = policySchema.parse({ maxMovesPerTick: 10 });
    const ticks = [await sim.tick({ config }), await sim.tick({ config })];
    const where = Object.fromEntries(sim.state().vms.map((v) => [v.name, v.host]));
    expect(where).toEqual({ plain: 'old', 'needs-avx2': 'old', 'needs-avx512': 'kvm1', icelake: 'kvm1' });
    const reasons = ticks.flatMap((t) => t.skipped).map((s) => `${s.vmName}: ${s.reason}`);
    expect(reasons).toContainEqual(
      expect.stringMatching(/^needs-avx512: .*old \(Haswell\) lacks 1 of the 1 CPU features needs-avx512's default CPU needs: avx512f/),
    );
    expect(reasons).toContainEqual(
      expect.stringMatching(
        /^icelake: .*old \(Haswell\) lacks 3 of the 6 CPU features icelake's CPU model Icelake-Server \(its features as on kvm1\) needs: avx512f, avx512vnni, clwb/,
      ),
    );
  });
});
