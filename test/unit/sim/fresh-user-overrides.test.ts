/**
 * Wrong decisions a fresh user found in `simulate` (2026-12-07): VMs whose names end alike were one
 * VM to the engine, and rule repairs moved VMs off a host in maintenance that their evacuation
 * override holds there.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';

async function run(scenario: unknown, policy: unknown = {}, ticks = 3) {
  const sim = new Simulator(scenarioSchema.parse(scenario));
  const config = policySchema.parse(policy);
  const moved: string[] = [];
  for (let i = 0; i < ticks; i++) for (const m of (await sim.tick({ config })).moves) moved.push(`${m.vmName} ${m.from}->${m.to}`);
  return { moved, sim };
}

describe('simulate: VM identity and evacuation overrides', () => {
  it('web-prod-01 (on a host in maintenance) and db-prod-01 are two VMs: the first leaves, the second stays where it is', async () => {
    const { moved } = await run({
      hosts: [
        { name: 'kvm1', cpuCount: 8, memoryMiB: 65536, maintenance: true },
        { name: 'kvm2', cpuCount: 8, memoryMiB: 65536 },
        { name: 'kvm3', cpuCount: 8, memoryMiB: 65536 },
      ],
      vms: [
        { name: 'web-prod-01', host: 'kvm1', memoryMiB: 2048, cpu: 0.1 },
        { name: 'db-prod-01', host: 'kvm3', memoryMiB: 2048, cpu: 0.1 },
      ],
    });
    expect(moved.filter((m) => m.startsWith('web-prod-01 kvm1->'))).toHaveLength(1);
    expect(moved.filter((m) => m.startsWith('db-prod-01'))).toEqual([]);
  });

  it('an affinity repair does not move a VM whose evacuation is never off the host in maintenance', async () => {
    const { moved } = await run(
      {
        hosts: [
          { name: 'a1', cpuCount: 8, memoryMiB: 32768, maintenance: true },
          { name: 'a2', cpuCount: 8, memoryMiB: 32768 },
          { name: 'b1', cpuCount: 8, memoryMiB: 32768 },
        ],
        vms: [
          { name: 'erp-app', host: 'a1', vcpus: 1, memoryMiB: 2048, cpu: 0.1 },
          { name: 'erp-db', host: 'a1', vcpus: 1, memoryMiB: 2048, cpu: 0.1 },
          { name: 'erp-cache', host: 'a1', vcpus: 1, memoryMiB: 2048, cpu: 0.1 },
        ],
      },
      { vmOverrides: { 'erp-db': { evacuation: 'never' } }, affinityGroups: [{ name: 'erp', type: 'affinity', vms: ['erp-app', 'erp-db', 'erp-cache'] }] },
    );
    expect(moved.filter((m) => m.startsWith('erp-db'))).toEqual([]);
  });

  it('an anti-affinity repair does not move VMs held by evacuation never or cold (running) off the host in maintenance', async () => {
    const { moved } = await run(
      {
        hosts: [
          { name: 'k1', cpuCount: 8, memoryMiB: 32768, maintenance: true },
          { name: 'k2', cpuCount: 8, memoryMiB: 32768 },
          { name: 'k3', cpuCount: 8, memoryMiB: 32768 },
        ],
        vms: [
          { name: 'w-live', host: 'k1', vcpus: 1, memoryMiB: 2048, cpu: 0.1, tags: ['group:web'] },
          { name: 'w-never', host: 'k1', vcpus: 1, memoryMiB: 2048, cpu: 0.1, tags: ['group:web', 'evacuation:never'] },
          { name: 'x-cold', host: 'k1', vcpus: 1, memoryMiB: 2048, cpu: 0.1, tags: ['group:api', 'evacuation:cold'] },
          { name: 'x-live', host: 'k1', vcpus: 1, memoryMiB: 2048, cpu: 0.1, tags: ['group:api'] },
        ],
      },
      { maxMovesPerTick: 10 },
    );
    expect(moved.filter((m) => m.startsWith('w-never') || m.startsWith('x-cold'))).toEqual([]);
    // The others still leave.
    expect(moved.filter((m) => m.startsWith('w-live k1->') || m.startsWith('x-live k1->'))).toHaveLength(2);
  });

  it('relieves a hot host with a VM the controller may move itself before one whose automation is manual', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({
        tickSeconds: 30,
        windowSamples: 3,
        hosts: [
          { name: 'kvm1', cpuCount: 8, memoryMiB: 65536 },
          { name: 'kvm2', cpuCount: 8, memoryMiB: 65536 },
          { name: 'kvm3', cpuCount: 8, memoryMiB: 65536 },
        ],
        vms: [
          { name: 'web1', host: 'kvm1', vcpus: 4, memoryMiB: 4096, cpu: 0.95 },
          { name: 'web2', host: 'kvm1', vcpus: 4, memoryMiB: 4096, cpu: 0.95 },
          { name: 'web3', host: 'kvm1', vcpus: 4, memoryMiB: 4096, cpu: 0.95 },
          { name: 'busy3', host: 'kvm3', vcpus: 4, memoryMiB: 4096, cpu: 0.9 },
        ],
      }),
    );
    const first = await sim.tick({ config: policySchema.parse({ vmOverrides: { web1: { automation: 'manual' } } }) });
    expect(first.moves.length).toBeGreaterThan(0);
    // The first relief move is one that runs now; web1's, if planned at all, comes after it.
    expect(first.moves[0].vmName).not.toBe('web1');
  });

  it('consolidation keeps to its failover headroom on later ticks too (an empty host is not room: it was emptied to power it down)', async () => {
    const vms = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ name: `v${n}`, host: `h${Math.ceil(n / 2)}`, vcpus: 1, memoryMiB: 3072, cpu: 0.1 }));
    const { moved } = await run(
      { tickSeconds: 30, windowSamples: 3, hosts: [1, 2, 3, 4].map((n) => ({ name: `h${n}`, cpuCount: 8, memoryMiB: 16384 })), vms },
      { goal: 'consolidate', headroom: { hostFailures: 1 } },
      8,
    );
    // h1 is emptied onto h2; emptying h3 as well would leave no room for h2's VMs if h2 failed.
    expect(moved).toEqual(['v1 h1->h2', 'v2 h1->h2']);
  });

  it('a move that waits for approval (policy.automation manual) is listed as recommended, not run', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({
        hosts: [
          { name: 'kvm1', cpuCount: 8, memoryMiB: 65536, maintenance: true },
          { name: 'kvm2', cpuCount: 8, memoryMiB: 65536 },
        ],
        vms: [{ name: 'web', host: 'kvm1', memoryMiB: 2048, cpu: 0.1 }],
      }),
    );
    const config = policySchema.parse({ automation: 'manual' });
    for (let i = 0; i < 3; i++) {
      const t = await sim.tick({ config });
      expect(t.moves).toEqual([]);
      expect(t.recommended.map((m) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['web kvm1->kvm2']);
    }
    expect(sim.where('web')).toBe('kvm1');
  });

  it('scenario hosts carry libvirt/QEMU versions: a drain never sends a VM to an older QEMU (version-monotonic moves)', async () => {
    const { moved } = await run({
      hosts: [
        { name: 'new1', cpuCount: 8, memoryMiB: 65536, maintenance: true, libvirtVersion: '11.3.0', qemuVersion: '10.0.2' },
        { name: 'old', cpuCount: 8, memoryMiB: 65536, libvirtVersion: '11.3.0', qemuVersion: '7.2.0' },
        { name: 'new2', cpuCount: 8, memoryMiB: 32768, libvirtVersion: '11.3.0', qemuVersion: '10.0.2' },
      ],
      vms: [{ name: 'web', host: 'new1', memoryMiB: 2048, cpu: 0.1 }],
    });
    expect(moved).toEqual(['web new1->new2']);
  });
});
