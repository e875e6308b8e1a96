/**
 * Hard feasibility on every target (issue 24, kind 1): a VM's vCPUs against the target's CPUs, guest
 * memory placed against memoryTotal x memoryOvercommitRatio, for must-moves and balancing alike,
 * and the refusals naming the VM, the host, the limit and the numbers.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ClusterState, HostObservation, VmObservation } from '../../../src/cluster/model.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { judgeTargets } from '../../../src/policy/place.js';
import { plan, planRequestedMove } from '../../../src/policy/engine.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';
import { host, state, vm, win } from './fixtures.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const cases = join(import.meta.dirname, '../../cases');
const config = policySchema.parse({ maxMovesPerTick: 50 });

describe('handed case vcpus-exceed-target-cpus-alone (ProxLB#340)', () => {
  it('db-1 goes to kvm2, never to witness', async () => {
    const scenario = scenarioSchema.parse(parse(await readFile(join(cases, 'vcpus-exceed-target-cpus-alone.scenario.yaml'), 'utf8')));
    const sim = new Simulator(scenario);
    const policy = policySchema.parse({});
    const moves = [];
    for (let i = 0; i < 20; i++) moves.push(...(await sim.tick({ config: policy })).moves);
    const dbMoves = moves.filter((m) => m.vmName === 'db-1');
    expect(dbMoves.map((m) => m.to)).toEqual(['kvm2']);
    expect(sim.where('db-1')).toBe('kvm2');
  });

  it('plan says why witness is no target: the VM, the host, the limit and the numbers', async () => {
    const scenario = scenarioSchema.parse(parse(await readFile(join(cases, 'vcpus-exceed-target-cpus-alone.scenario.yaml'), 'utf8')));
    const s = new Simulator(scenario).state();
    const db = s.vms.find((v) => v.name === 'db-1')!;
    const verdicts = await judgeTargets(db, s, { mustMove: true });
    expect(verdicts.find((v) => v.host === 'witness')).toMatchObject({
      accepted: false,
      reason: "db-1 has 16 vCPUs, more than the 4 logical CPUs of witness (limit: a VM's vCPUs <= the target's CPUs)",
    });
    // With kvm2 gone too, the drain has no target and says so.
    const noKvm2: ClusterState = { ...s, hosts: s.hosts.map((h) => (h.name === 'kvm2' ? { ...h, up: false } : h)) };
    const p = await plan(noKvm2, { config: policySchema.parse({}) });
    expect(p.moves.map((m) => m.vmName)).not.toContain('db-1');
    expect(p.skipped.find((x) => x.vmName === 'db-1')?.reason).toContain('db-1 has 16 vCPUs, more than the 4 logical CPUs of witness');
  });

  it('an operator move (migrate) to witness is refused the same way', async () => {
    const scenario = scenarioSchema.parse(parse(await readFile(join(cases, 'vcpus-exceed-target-cpus-alone.scenario.yaml'), 'utf8')));
    const s = new Simulator(scenario).state();
    const db = s.vms.find((v) => v.name === 'db-1')!;
    expect(await planRequestedMove(s, { vmUuid: db.uuid, to: 'witness', reason: 'operator' })).toEqual({
      refused: "db-1 has 16 vCPUs, more than the 4 logical CPUs of witness (limit: a VM's vCPUs <= the target's CPUs)",
      hardLimit: true,
    });
    expect('move' in (await planRequestedMove(s, { vmUuid: db.uuid, to: 'kvm2', reason: 'operator' }))).toBe(true);
  });

  it('balancing never picks a narrower host either, even when it gains most', async () => {
    // a is hot; 'wide' (8 vCPUs, lightly used) would gain most on the idle 4-CPU n, which cannot run it.
    const hosts = [host('a', { cpuCount: 16 }), host('n', { cpuCount: 4, memoryTotalBytes: 64 * GiB }), host('w', { cpuCount: 16 })];
    const vms = [vm('wide', 'a', 0.1, { vcpus: 8 }), vm('a2', 'a', 0.9, { vcpus: 8 }), vm('a3', 'a', 0.9, { vcpus: 8 }), vm('w1', 'w', 0.9, { vcpus: 8 })];
    const s = state(hosts, vms);
    const p = await plan(s, { config: policySchema.parse({ maxMovesPerTick: 1, ignoredVms: ['a2', 'a3'] }) });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['wide', 'w']]);
  });
});

/**
 * A drain with node-statistics accounting: each host reports what its guests use now (a quarter of
 * what they were given), so free memory looks larger than the room left for guests' configured
 * memory. The plan loop below applies each plan's moves the way the collector would then see them.
 */
describe('guest memory placed is limited by memoryTotal x memoryOvercommitRatio during a drain', () => {
  const used = (vms: VmObservation[], h: string) => vms.filter((v) => v.host === h).reduce((s, v) => s + v.memoryBytes / 4, 0);
  const placed = (vms: VmObservation[], h: string) => vms.filter((v) => v.host === h).reduce((s, v) => s + v.memoryBytes, 0);
  function observe(hosts: HostObservation[], vms: VmObservation[], nowMs: number): ClusterState {
    return {
      observedAtMs: nowMs,
      hosts: hosts.map((h) => ({ ...h, cpuUtilization: win(0.2), memoryUsedBytes: used(vms, h.name) })),
      vms,
      inFlight: [],
      lastMovedAtMs: {},
      recentMoves: [],
    };
  }

  it('no target ever holds more than 64 GiB of guests; the VMs that fit nowhere stay, each refusal with its numbers', async () => {
    const hosts = [
      host('old', { cpuCount: 64, memoryTotalBytes: 256 * GiB, maintenance: true }),
      host('t1', { cpuCount: 64, memoryTotalBytes: 64 * GiB }),
      host('t2', { cpuCount: 64, memoryTotalBytes: 64 * GiB }),
    ];
    // 20 x 8 GiB = 160 GiB to drain onto 2 x 64 GiB, t1 already holding 24 GiB of guests.
    let vms: VmObservation[] = [
      ...Array.from({ length: 20 }, (_, i) => vm(`g${i}`, 'old', 0.05, { memoryBytes: 8 * GiB, maxMemoryBytes: 8 * GiB })),
      ...Array.from({ length: 3 }, (_, i) => vm(`t1-${i}`, 't1', 0.05, { memoryBytes: 8 * GiB, maxMemoryBytes: 8 * GiB })),
    ];
    let last: Awaited<ReturnType<typeof plan>> | undefined;
    for (let tick = 0; tick < 10; tick++) {
      last = await plan(observe(hosts, vms, 1_000_000 + tick * 60_000), { config });
      if (last.moves.length === 0) break;
      const to = new Map(last.moves.map((m) => [m.vmUuid, m.to]));
      vms = vms.map((v) => (to.has(v.uuid) ? { ...v, host: to.get(v.uuid)! } : v));
      for (const h of ['t1', 't2']) expect(placed(vms, h)).toBeLessThanOrEqual(64 * GiB);
    }
    // 5 fit on t1 (24 + 40 = 64 GiB), 8 on t2; 7 stay.
    expect(placed(vms, 't1') / GiB).toBe(64);
    expect(placed(vms, 't2') / GiB).toBe(64);
    expect(vms.filter((v) => v.host === 'old')).toHaveLength(7);
    const reason = last!.skipped.find((s) => s.vmName.startsWith('g'))!.reason;
    expect(reason).toContain('no eligible target within the hard limits');
    expect(reason).toMatch(
      /t1 would hold 73728 MiB of guest memory with g\d+ \(8192 MiB; 65536 MiB placed\), above its limit 65536 MiB \(memory 65536 MiB x memoryOvercommitRatio 1\)/,
    );
  });

  it('counts moves planned earlier in the same plan and migrations under way', async () => {
    const hosts = [host('old', { memoryTotalBytes: 64 * GiB, maintenance: true }), host('t', { memoryTotalBytes: 20 * GiB, cpuCount: 16 })];
    const vms = [
      vm('m1', 'old', 0.05, { memoryBytes: 8 * GiB }),
      vm('m2', 'old', 0.05, { memoryBytes: 8 * GiB }),
      vm('m3', 'old', 0.05, { memoryBytes: 8 * GiB }),
    ];
    // Node stats say t uses nothing at all.
    const s = { ...observe(hosts, vms, 1_000_000), hosts: observe(hosts, vms, 1_000_000).hosts.map((h) => ({ ...h, memoryUsedBytes: 0 })) };
    const p = await plan(s, { config });
    expect(p.moves.map((m) => m.vmName)).toEqual(['m1', 'm2']);
    // m1 migrating to t already: only one more fits.
    const inFlight = {
      ...s,
      inFlight: [{ vmUuid: vms[0].uuid, vmName: 'm1', from: 'old', to: 't', startedAtMs: 999_000 }],
      vms: vms.map((v, i) => (i === 0 ? { ...v, jobRunning: true } : v)),
    };
    const q = await plan(inFlight, { config });
    expect(q.moves.map((m) => m.vmName)).toEqual(['m2']);
    expect(q.skipped.find((x) => x.vmName === 'm3')?.reason).toContain(`t would hold ${(24 * GiB) / MiB} MiB of guest memory with m3`);
  });
});

describe('the simulator asks the same hard limits (scenario fields from domain XML and capabilities)', () => {
  it('a drain sends the pinned, NUMA-bound and CPU-model VMs only where they can run', async () => {
    const scenario = scenarioSchema.parse({
      tickSeconds: 30,
      windowSamples: 3,
      hosts: [
        // Two NUMA nodes: the VM bound to node 1 runs there now (a scenario's start state is one libvirt could run).
        { name: 'old', cpuCount: 16, numaNodes: 2, memoryMiB: 65536, maintenance: true, cpuModel: 'Skylake', cpuFeatures: ['sse4_2', 'avx', 'avx2'] },
        // The idlest host: one NUMA node, CPUs 0-7, the same Skylake (no avx512f).
        { name: 'small', cpuCount: 8, memoryMiB: 65536, cpuModel: 'Skylake', cpuFeatures: ['sse4_2', 'avx', 'avx2'] },
        { name: 'big', cpuCount: 16, numaNodes: 2, memoryMiB: 65536, cpuModel: 'Icelake', cpuFeatures: ['sse4_2', 'avx', 'avx2', 'avx512f', 'vaes'] },
        { name: 'busy', cpuCount: 16, numaNodes: 2, memoryMiB: 65536, cpuModel: 'Skylake', cpuFeatures: ['sse4_2', 'avx', 'avx2'] },
      ],
      vms: [
        { name: 'pinned', host: 'old', vcpus: 2, memoryMiB: 4096, cpu: 0.2, cpuset: '12-13' },
        { name: 'numa', host: 'old', vcpus: 2, memoryMiB: 4096, cpu: 0.2, numaNodeset: '1' },
        { name: 'avx512', host: 'old', vcpus: 2, memoryMiB: 4096, cpu: 0.2, cpuModel: 'Skylake', cpuFeatures: ['avx512f'] },
        { name: 'plain', host: 'old', vcpus: 2, memoryMiB: 4096, cpu: 0.2 },
        { name: 'b1', host: 'big', vcpus: 8, memoryMiB: 4096, cpu: 0.5 },
        { name: 'u1', host: 'busy', vcpus: 16, memoryMiB: 4096, cpu: 0.9 },
      ],
    });
    const sim = new Simulator(scenario);
    const first = await sim.tick({ config: policySchema.parse({ maxMovesPerTick: 10 }) });
    expect(Object.fromEntries(first.moves.map((m) => [m.vmName, m.to]))).toEqual({ pinned: 'big', numa: 'big', avx512: 'big', plain: 'small' });
    const bad = scenarioSchema.safeParse({ ...scenario, vms: [{ ...scenario.vms[0], cpuset: '1-x' }] });
    expect(bad.success ? [] : bad.error.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['vms.0.cpuset', 'VM pinned: malformed cpuset "1-x" (at "1-x"): expected ids and ranges such as 0-3,8,^2'],
    ]);
  });

  it("hosts' memoryOvercommitRatio limits guest memory placed in the simulator too", async () => {
    const scenario = scenarioSchema.parse({
      tickSeconds: 30,
      windowSamples: 3,
      hosts: [
        { name: 'old', cpuCount: 16, memoryMiB: 65536, maintenance: true },
        { name: 'half', cpuCount: 16, memoryMiB: 16384, memoryOvercommitRatio: 1.5 },
      ],
      vms: Array.from({ length: 8 }, (_, i) => ({ name: `m${i}`, host: 'old', vcpus: 1, memoryMiB: 4096, cpu: 0.1 })),
    });
    const sim = new Simulator(scenario);
    const moves = [];
    for (let i = 0; i < 5; i++) moves.push(...(await sim.tick({ config: policySchema.parse({ maxMovesPerTick: 10 }) })).moves);
    // 16 GiB x 1.5 = 24 GiB: six 4 GiB guests.
    expect(moves).toHaveLength(6);
  });
});
