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
  it('moves fill2 off kvm2 to kvm3 (the move that frees enough), then big leaves kvm1 for kvm2', async () => {
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
    expect(first.moves.map((m) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['fill2 kvm2->kvm3']);
    expect(first.moves[0].mustMove).toBe(true);
    expect(first.moves[0].reason).toContain('makes room on kvm2 for big, which must leave kvm1');
    expect(first.notices.map((n) => n.message)).toContain(
      'big must leave kvm1 (host kvm1 is in maintenance) and fits on no host now: making room on kvm2 by moving fill2 to kvm3; big follows once it has left',
    );
    expect(second.moves.map((m) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['big kvm1->kvm2']);
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
