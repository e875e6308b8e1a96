/**
 * A VM that must leave a host in maintenance and fits on no host: the engine moves one other VM to
 * make room (make-room.ts), and the VM follows on a later tick; when no single move makes room, a
 * notice says so every tick. Before, the drain waited forever with only a per-VM skip reason.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';

const hosts = (kvm3MiB: number) => [
  { name: 'kvm1', cpuCount: 8, memoryMiB: 16384, maintenance: true },
  { name: 'kvm2', cpuCount: 8, memoryMiB: 16384 },
  { name: 'kvm3', cpuCount: 8, memoryMiB: kvm3MiB },
];

async function ticks(scenario: unknown, n: number) {
  const sim = new Simulator(scenarioSchema.parse(scenario));
  const config = policySchema.parse({});
  const out = [];
  for (let i = 0; i < n; i++) out.push(await sim.tick({ config }));
  return out;
}

describe('make room for a must-move that fits nowhere', () => {
  it('moves fill3 off kvm3 to kvm2 (the smallest move that frees enough), then big leaves kvm1 for kvm3', async () => {
    const [first, second] = await ticks(
      {
        hosts: hosts(16384),
        vms: [
          { name: 'big', host: 'kvm1', memoryMiB: 12000, cpu: 0.2 },
          { name: 'fill2', host: 'kvm2', memoryMiB: 8000, cpu: 0.2 },
          { name: 'small2', host: 'kvm2', memoryMiB: 1000, cpu: 0.2 },
          { name: 'fill3', host: 'kvm3', memoryMiB: 5000, cpu: 0.2 },
        ],
      },
      2,
    );
    expect(first.moves.map((m) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['fill3 kvm3->kvm2']);
    expect(first.moves[0].mustMove).toBe(true);
    expect(first.moves[0].reason).toContain('makes room on kvm3 for big, which must leave kvm1');
    expect(first.notices.map((n) => n.message)).toContain(
      'big must leave kvm1 (host kvm1 is in maintenance) and fits on no host now: making room on kvm3 by moving fill3 to kvm2; big follows once it has left',
    );
    expect(second.moves.map((m) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['big kvm1->kvm3']);
  });

  it("a make-room move keeps the moved VM's own automation: tagged manual, it waits for approval", async () => {
    const [first] = await ticks(
      {
        hosts: hosts(16384),
        vms: [
          { name: 'big', host: 'kvm1', memoryMiB: 12000, cpu: 0.2 },
          { name: 'fill2', host: 'kvm2', memoryMiB: 8000, cpu: 0.2 },
          { name: 'small2', host: 'kvm2', memoryMiB: 1000, cpu: 0.2 },
          { name: 'fill3', host: 'kvm3', memoryMiB: 5000, cpu: 0.2, tags: ['automation:manual'] },
        ],
      },
      1,
    );
    expect(first.moves).toEqual([]);
    expect(first.recommended.map((m) => [m.vmName, m.automation])).toEqual([['fill3', 'manual']]);
    expect(first.recommended[0].reason).toContain("waits for approval: fill3's automation is manual");
  });

  it('says every tick that no single move makes room when none does, and moves nothing', async () => {
    const all = await ticks(
      {
        hosts: hosts(16384),
        vms: [
          { name: 'big', host: 'kvm1', memoryMiB: 12000, cpu: 0.2 },
          { name: 'fill2', host: 'kvm2', memoryMiB: 8000, cpu: 0.2 },
          { name: 'fill3', host: 'kvm3', memoryMiB: 9000, cpu: 0.2 },
        ],
      },
      3,
    );
    for (const tick of all) {
      expect(tick.moves).toEqual([]);
      expect(tick.notices.map((n) => n.message).join('\n')).toContain('big must leave kvm1 (host kvm1 is in maintenance) and fits on no host');
      expect(tick.notices.map((n) => n.message).join('\n')).toContain(
        'no single move of another VM makes room for it: free room on kvm2, kvm3 (or add a host) by hand',
      );
    }
  });
});

describe('a keep-together group with a member its evacuation holds on a host in maintenance', () => {
  it('stays whole with it (no member moved away, no make-room), and a notice says what keeps the host from emptying', async () => {
    const all = await ticks(
      {
        hosts: hosts(32768).map((h) => ({ ...h, memoryMiB: 32768 })),
        vms: [
          { name: 'db1', host: 'kvm1', memoryMiB: 2048, cpu: 0.2, tags: ['affinity:db'] },
          { name: 'db2', host: 'kvm1', memoryMiB: 2048, cpu: 0.2, tags: ['affinity:db', 'evacuation:never'] },
          { name: 'db3', host: 'kvm1', memoryMiB: 2048, cpu: 0.2, tags: ['affinity:db'] },
          { name: 'web', host: 'kvm1', memoryMiB: 2048, cpu: 0.2 },
        ],
      },
      2,
    );
    expect(all.flatMap((t) => t.moves.map((m) => m.vmName))).toEqual(['web']);
    const notices = all[0].notices.map((n) => n.message);
    expect(notices).toContain(
      "affinity group db stays with db2, which stays on kvm1 (in maintenance; evacuation never): its members there are not moved, and kvm1 is not emptied while db2 is there; change db2's evacuation or shut it down",
    );
    expect(notices.join('\n')).not.toContain('makes room');
    expect(all[0].skipped.find((s) => s.vmName === 'db1')?.reason).toContain('affinity group db stays with db2');
  });
});

describe('spread groups over a label (max skew 1)', () => {
  const racks = [
    { name: 'a1', cpuCount: 16, memoryMiB: 65536, labels: { rack: 'a' } },
    { name: 'a2', cpuCount: 16, memoryMiB: 65536, labels: { rack: 'a' } },
    { name: 'b1', cpuCount: 16, memoryMiB: 65536, labels: { rack: 'b' } },
    { name: 'c1', cpuCount: 16, memoryMiB: 65536, labels: { rack: 'c' } },
  ];
  const web = (i: number, host: string) => ({ name: `web${i}`, host, memoryMiB: 2048, cpu: 0.1 });

  it('six web VMs, five in rack a, end two per rack, never moved within rack a, then stay', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({ hosts: racks, vms: [web(1, 'a1'), web(2, 'a1'), web(3, 'a2'), web(4, 'a2'), web(5, 'a2'), web(6, 'b1')] }),
    );
    const config = policySchema.parse({
      affinityGroups: [{ name: 'web', type: 'spread', scope: 'rack', vms: ['web1', 'web2', 'web3', 'web4', 'web5', 'web6'] }],
    });
    const moves = [];
    for (let i = 0; i < 5; i++) moves.push(...(await sim.tick({ config })).moves);
    expect(moves.every((m) => m.reason.includes('spread group web over rack'))).toBe(true);
    expect(moves.filter((m) => m.from.startsWith('a') && m.to.startsWith('a'))).toEqual([]);
    const rackOf = (h: string) => h[0];
    const perRack = new Map<string, number>();
    for (const vm of sim.state().vms) perRack.set(rackOf(vm.host), (perRack.get(rackOf(vm.host)) ?? 0) + 1);
    expect(sim.where('web1')).toBeDefined();
    expect(Object.fromEntries(perRack)).toEqual({ a: 2, b: 2, c: 2 });
    expect(moves).toHaveLength(3);
  });

  it('a hot host is not relieved by a move that would leave its rack without a member (skew 2), and plan says why', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({
        hosts: racks.map((h) => ({ ...h, cpuCount: h.name === 'b1' ? 2 : 4 })),
        vms: [
          { name: 'web1', host: 'a1', vcpus: 1, memoryMiB: 2048, cpu: 0.05 },
          { name: 'web2', host: 'a2', vcpus: 1, memoryMiB: 2048, cpu: 0.05 },
          { name: 'web3', host: 'b1', vcpus: 2, memoryMiB: 2048, cpu: 0.97 },
          { name: 'web4', host: 'c1', vcpus: 1, memoryMiB: 2048, cpu: 0.05 },
        ],
      }),
    );
    const spread = { affinityGroups: [{ name: 'web', type: 'spread', scope: 'rack', vms: ['web1', 'web2', 'web3', 'web4'] }] };
    const ticks = [];
    for (let i = 0; i < 3; i++) ticks.push(await sim.tick({ config: policySchema.parse(spread) }));
    expect(ticks.flatMap((t) => t.moves)).toEqual([]);
    const why = ticks[0].skipped.find((x) => x.vmName === 'web3')?.reason ?? '';
    expect(why).toContain('spread group web over rack: rack a would hold 3 of its 4 members while rack b holds 0 (max skew 1)');
    expect(why).toContain('spread group web over rack: rack c would hold 2 of its 4 members while rack b holds 0 (max skew 1)');
    // Without the group, the same hot host is relieved.
    const free = new Simulator(
      scenarioSchema.parse({
        hosts: racks.map((h) => ({ ...h, cpuCount: h.name === 'b1' ? 2 : 4 })),
        vms: [
          { name: 'web1', host: 'a1', vcpus: 1, memoryMiB: 2048, cpu: 0.05 },
          { name: 'web2', host: 'a2', vcpus: 1, memoryMiB: 2048, cpu: 0.05 },
          { name: 'web3', host: 'b1', vcpus: 2, memoryMiB: 2048, cpu: 0.97 },
          { name: 'web4', host: 'c1', vcpus: 1, memoryMiB: 2048, cpu: 0.05 },
        ],
      }),
    );
    const unconstrained = [];
    for (let i = 0; i < 3; i++) unconstrained.push(...(await free.tick({ config: policySchema.parse({}) })).moves);
    expect(unconstrained.map((m) => m.vmName)).toContain('web3');
  });
});
