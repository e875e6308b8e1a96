/**
 * A drain's plan is only the drain's part (workflows/drain.ts drainPart): moves off the host and
 * make-room moves for its VMs run; balancing moves and skips of VMs on other hosts neither run nor
 * hold the drain. A fresh user's `maintenance` stopped "drain-cannot-place" naming two VMs of
 * another host (one in cooldown, one whose spread target gained too little) while the drained
 * host's own VM could move.
 */
import { describe, expect, it } from 'vitest';
import { drainPart } from '../../../src/controller/workflows/drain.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';
import { host, state, vm } from '../policy/fixtures.js';

describe('the drain part of a plan', () => {
  it('keeps the moves off the drained host and the skips of its own VMs only', async () => {
    // lab2 is a spread source (three busy VMs), lab1 is drained (its one VM can go to lab3).
    const s = state(
      [host('lab1', { maintenance: true }), host('lab2'), host('lab3')],
      [vm('mt-a', 'lab1', 0.1), vm('mt-b', 'lab2', 0.9), vm('mt-c', 'lab2', 0.9), vm('mt-d', 'lab2', 0.9)],
    );
    const whole = await plan(s, { config: policySchema.parse({ maxMovesPerTick: 10, cooldownSeconds: 0 }) });
    // The whole plan also balances lab2 (or skips its VMs); the drain's part does neither.
    const other = [...whole.moves.map((m) => m.vmName), ...whole.skipped.map((x) => x.vmName)].filter((n) => n !== 'mt-a');
    expect(other.length).toBeGreaterThan(0);
    const part = drainPart(whole, s, 'lab1');
    expect(part.moves.map((m) => [m.vmName, m.from])).toEqual([['mt-a', 'lab1']]);
    expect(part.skipped).toEqual([]);
    // What planDrain asks: only lab1's candidates are planned at all, so no dropped move elsewhere
    // shaped the projection mt-a's target was chosen on.
    const only = await plan(s, { config: policySchema.parse({ maxMovesPerTick: 10, cooldownSeconds: 0 }), onlyFromHost: 'lab1' });
    expect([...only.moves.map((m) => m.vmName), ...only.skipped.map((x) => x.vmName)].filter((n) => n !== 'mt-a')).toEqual([]);
  });

  it('keeps a make-room move for one of its VMs, and the skip of its VM that waits for it', async () => {
    const sim = new Simulator(
      scenarioSchema.parse({
        hosts: [
          { name: 'kvm1', cpuCount: 8, memoryMiB: 16384, maintenance: true },
          { name: 'kvm2', cpuCount: 8, memoryMiB: 16384 },
          { name: 'kvm3', cpuCount: 8, memoryMiB: 16384 },
        ],
        vms: [
          { name: 'big', host: 'kvm1', memoryMiB: 12000, cpu: 0.2 },
          { name: 'fill2', host: 'kvm2', memoryMiB: 8000, cpu: 0.2 },
          { name: 'small2', host: 'kvm2', memoryMiB: 1000, cpu: 0.2 },
          { name: 'fill3', host: 'kvm3', memoryMiB: 5000, cpu: 0.2 },
        ],
      }),
    );
    const s = sim.state();
    const part = drainPart(await plan(s, { config: policySchema.parse({}) }), s, 'kvm1');
    // One move off another host, making room for big (the smallest that frees enough: fill3 off kvm3).
    expect(part.moves.map((m) => [m.vmName, m.from, m.makesRoomFor === s.vms.find((v) => v.name === 'big')?.uuid])).toEqual([['fill3', 'kvm3', true]]);
    expect(part.skipped.map((x) => x.vmName)).toEqual(['big']);
  });
});
