/**
 * One test per kind of decision issue 13 asks for: spread, memory, must-moves under soft limits and
 * with no target, each rule's repair, each VM state in maintenance, the spread hold, the forecast.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { newPlanMemory, plan, spreadSettings } from '../../../src/policy/engine.js';
import { evaluateTargets } from '../../../src/policy/targets.js';
import { loadPolicies } from '../../../src/policy/loader.js';
import { scenarioSchema, Simulator } from '../../../src/sim/simulator.js';
import type { VmObservation } from '../../../src/cluster/model.js';
import { host, state, vm } from './fixtures.js';

const GiB = 2 ** 30;
const config = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 10 });

describe('spread balancing', () => {
  const sixOnOne = () =>
    state(
      [host('a'), host('b'), host('c')],
      Array.from({ length: 6 }, (_, i) => vm(`v${i}`, 'a', 0.1)),
    );

  it('spreads six light VMs off one host though no threshold is crossed, at the default settings, and says why', async () => {
    // a: 15 % CPU, 37.5 % memory; b and c empty. Nothing is hot, CPU is below the CPU spread floor
    // (50 %): memory alone (25 points above the mean, tolerance 10) makes a a spread source, and
    // each 1 GiB move gains about 0.04, more than the default memory margin (0.004).
    const p = await plan(sixOnOne(), { config });
    expect(p.moves.length).toBeGreaterThanOrEqual(2);
    expect(new Set(p.moves.map((m) => m.to))).toEqual(new Set(['b', 'c']));
    expect(p.moves[0].reason).toMatch(/^balance: spread: host a memory 38% is 25 points above the cluster mean 13% \(tolerance 10\)/);
    expect(p.objectiveAfter!).toBeLessThan(p.objectiveBefore!);
    // A memory margin above that gain (0.05) leaves them where they are.
    expect((await plan(sixOnOne(), { config: policySchema.parse({ maxMovesPerTick: 10, spread: { memoryMinGain: 0.05 } }) })).moves).toEqual([]);
  });

  it('leaves a CPU spread below minCpuPercent alone: a host at 35 % CPU gives nothing away, one at 60 % does', async () => {
    // Memory even (one 1 GiB VM per host); CPU: a busy host against two idle ones.
    const cpuSpread = (busy: number) =>
      state([host('a'), host('b'), host('c')], [vm('hot1', 'a', busy), vm('hot2', 'a', busy), vm('b1', 'b', 0), vm('c1', 'c', 0)], {});
    const flat = (s: ReturnType<typeof cpuSpread>) => ({
      ...s,
      // Same memory everywhere so only CPU can make a spread source.
      hosts: s.hosts.map((h) => ({ ...h, memoryUsedBytes: 2 * GiB })),
    });
    // 2 VMs x 0.7 of a vCPU on 4 CPUs = 35 %: 23 points above the mean, above the tolerance (20), below the floor (50).
    expect((await plan(flat(cpuSpread(0.7)), { config })).moves).toEqual([]);
    // At 60 % (2 x 1.2 is more than two vCPUs: the VMs have 2 each) it is a CPU spread source.
    const busy = flat(
      state([host('a'), host('b'), host('c')], [vm('hot1', 'a', 0.6, { vcpus: 2 }), vm('hot2', 'a', 0.6, { vcpus: 2 }), vm('b1', 'b', 0), vm('c1', 'c', 0)]),
    );
    const p = await plan(busy, { config });
    expect(p.moves.length).toBe(1);
    expect(p.moves[0].reason).toMatch(/^balance: spread: host a CPU 60% is 40 points above the cluster mean 20% \(tolerance 20\)/);
    expect(spreadSettings(config).minCpu).toBe(0.5);
  });

  it('is off at aggressiveness 1 and when disabled', async () => {
    for (const spread of [{ aggressiveness: 1 }, { enabled: false }]) {
      expect((await plan(sixOnOne(), { config: policySchema.parse({ spread }) })).moves).toEqual([]);
    }
    expect(spreadSettings(policySchema.parse({ spread: { aggressiveness: 1 } })).enabled).toBe(false);
  });

  it('does not spread a VM onto a host it would make a spread source itself (issue 26: it came straight back off)', async () => {
    // CPU only (memory out of the objective, as in the trace replay). a: two 2-vCPU VMs at 75 % of
    // a vCPU each on 4 CPUs = 75 % (below cpuHigh), a CPU spread source (mean 24 %). b holds one VM
    // at 22.5 %; c and d count in the mean but have no memory left for the VM. Moving one VM (37.5 %
    // of a 4-CPU host) to b gains more than its cost and margin, but leaves b at 60 %, 36 points
    // above the mean and above the 50 % floor: a spread source the next plan would move a VM off.
    const cpuOnly = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 10, objective: { memoryWeight: 0 } });
    const full = (name: string) => vm(`${name}-full`, name, 0, { memoryBytes: 16 * GiB, maxMemoryBytes: 16 * GiB });
    const cluster = (bCpu: number) =>
      state(
        [host('a'), host('b'), host('c'), host('d')],
        [vm('hot1', 'a', 0.75, { vcpus: 2 }), vm('hot2', 'a', 0.75, { vcpus: 2 }), vm('b1', 'b', bCpu, { vcpus: 2 }), full('c'), full('d')],
      );
    const refused = await plan(cluster(0.45), { config: cpuOnly });
    expect(refused.moves).toEqual([]);
    expect(refused.skipped.find((s) => s.vmName === 'hot1')?.reason).toMatch(
      /b would become a spread source itself \(CPU 60%, 36 points above the cluster mean, tolerance 20\)/,
    );
    // With b idle the same move leaves b at 37.5 %, below the floor: it is made.
    const made = await plan(cluster(0), { config: cpuOnly });
    expect(made.moves.map((m) => [m.from, m.to])).toEqual([['a', 'b']]);
  });

  it('waits holdTicks plans before acting when the caller keeps the memory', async () => {
    const memory = newPlanMemory();
    const held = policySchema.parse({ spread: { aggressiveness: 4, holdTicks: 3 } });
    const first = await plan(sixOnOne(), { config: held, memory });
    const second = await plan(sixOnOne(), { config: held, memory });
    const third = await plan(sixOnOne(), { config: held, memory });
    expect(first.moves).toEqual([]);
    expect(first.skipped.find((s) => s.vmName === '(host a)')?.reason).toMatch(/held 1 of 3 ticks/);
    expect(second.moves).toEqual([]);
    expect(third.moves.length).toBeGreaterThan(0);
    // A host that drops below the tolerance starts its hold again.
    await plan(state([host('a'), host('b'), host('c')], [vm('x', 'a', 0.1), vm('y', 'b', 0.1), vm('z', 'c', 0.1)]), { config: held, memory });
    expect(memory.spreadHeldTicks.size).toBe(0);
  });

  // The demo's situation (lab/demo.ts, lab/vm.ts demoProfiles): six small VMs on one of
  // three 4-CPU / 4 GiB hosts, 5 s ticks, every policy setting at its default. Whatever CPU the
  // guests get (next to none on a busy machine, or up to 30 % each, jittering) they end on all
  // three hosts within a few ticks and then stay still.
  const demoScenario = (cpu: (i: number) => number | number[]) =>
    scenarioSchema.parse({
      tickSeconds: 5,
      windowSamples: 3,
      hosts: ['lab1', 'lab2', 'lab3'].map((name) => ({ name, cpuCount: 4, memoryMiB: 4096 })),
      vms: [192, 192, 256, 192, 256, 128].map((memoryMiB, i) => ({ name: `g${i}`, host: 'lab1', memoryMiB, cpu: cpu(i) })),
    });
  const jitter = (seed: number) => Array.from({ length: 7 }, (_, i) => Math.abs(Math.sin(seed * 7 + i * 3)) * 0.3);
  for (const [label, cpu] of [
    ['guests get next to no CPU (busy machine)', () => 0.02],
    ['CPU jitters up to 30 % a guest', jitter],
  ] as const) {
    it(`in the simulator at the default settings: six VMs on one of three hosts spread within 10 ticks, then stay still for 50 (${label})`, async () => {
      const sim = new Simulator(demoScenario(cpu));
      const defaults = policySchema.parse({});
      const movesPerTick: number[] = [];
      for (let i = 0; i < 60; i++) movesPerTick.push((await sim.tick({ config: defaults })).moves.length);
      const lastMoveTick = movesPerTick.reduce((last, n, i) => (n > 0 ? i : last), -1);
      expect(lastMoveTick).toBeGreaterThanOrEqual(2); // the hold: 3 ticks above the tolerance first
      expect(lastMoveTick).toBeLessThan(10);
      const perHost = new Map<string, number>();
      for (const v of sim.state().vms) perHost.set(v.host, (perHost.get(v.host) ?? 0) + 1);
      expect(new Set(perHost.keys())).toEqual(new Set(['lab1', 'lab2', 'lab3']));
      // lab1 keeps at most half of them.
      expect(perHost.get('lab1')).toBeLessThanOrEqual(3);
    });
  }
});

describe('balance targets', () => {
  it('relieves a hot host onto the host with fewer vCPUs committed when both are as idle now (issue 26)', async () => {
    // CPU only. a: two 2-vCPU VMs at 90 % of a vCPU on 4 CPUs = 90 %, hot. b is empty; c holds three
    // idle 1-vCPU VMs: both are at 0 % CPU now, but c's VMs can wake (on the PlanetLab replay hosts
    // full of idle VMs took a busy one and were overloaded later). c is listed first, so a
    // headroom score that reads only the CPU in use now (a tie) picked it.
    const cpuOnly = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 1, objective: { memoryWeight: 0 } });
    const p = await plan(
      state(
        [host('a'), host('c'), host('b')],
        [vm('hot1', 'a', 0.9, { vcpus: 2 }), vm('hot2', 'a', 0.9, { vcpus: 2 }), vm('c1', 'c', 0), vm('c2', 'c', 0), vm('c3', 'c', 0)],
      ),
      { config: cpuOnly },
    );
    expect(p.moves.map((m) => [m.from, m.to])).toEqual([['a', 'b']]);
  });

  it('a hot host crowded with vCPUs sheds its idle VMs with the most vCPUs unused, besides its relief (issue 26)', async () => {
    // CPU only, vCPU overcommit loose (16). a: one 2-vCPU VM at 90 % and one at 80 % (85 % of 4
    // CPUs, hot) and twelve idle VMs: 4 vCPUs committed per CPU against the cluster's 16 / 16 = 1.
    // Relief moves busy1 (2 vCPUs); the idle ones are what wakes later on such a host (the replay's
    // crowded hosts went from 36 % to 103 % in one sample), so it sheds down to 3 per CPU
    // (crowdedFactor 3 x the cluster's 1): 4 vCPUs less busy1's 2, the VM with the most vCPUs
    // unused first (wide1: 2 unused; wide2 1.9; each small idle VM 1).
    // Spread off, so every move is relief or shedding (a at 42 % after busy1 is still a spread source).
    const cpuOnly = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 10, objective: { memoryWeight: 0 }, spread: { enabled: false } });
    const loose = { cpuOvercommitRatio: 16 };
    const idle = [
      ...Array.from({ length: 8 }, (_, i) => vm(`i${i}`, 'a', 0, { memoryBytes: GiB / 4 })),
      vm('wide1', 'a', 0, { vcpus: 2, memoryBytes: GiB / 4 }),
      vm('wide2', 'a', 0.05, { vcpus: 2, memoryBytes: GiB / 4 }),
    ];
    const s = state(
      [host('a', loose), host('b', loose), host('c', loose), host('d', loose)],
      [vm('busy1', 'a', 0.9, { vcpus: 2, memoryBytes: GiB / 4 }), vm('busy2', 'a', 0.8, { vcpus: 2, memoryBytes: GiB / 4 }), ...idle],
    );
    const p = await plan(s, { config: cpuOnly });
    const moved = p.moves.map((m) => m.vmName);
    expect(moved).toContain('busy1');
    expect(moved.filter((n) => n.startsWith('wide'))).toEqual(['wide1']);
    expect(moved).not.toContain('busy2');
    expect(moved.filter((n) => n.startsWith('i'))).toEqual([]);
    expect(p.moves.find((m) => m.vmName === 'wide1')?.reason).toMatch(/crowded: 4\.0 vCPUs per CPU committed, more than 3\.00 .*sheds idle VMs/);
    // Not hot, the same crowding moves nothing: shedding is part of a hot host's relief.
    const calm = state(
      [host('a', loose), host('b', loose), host('c', loose), host('d', loose)],
      [vm('busy1', 'a', 0.3, { vcpus: 2, memoryBytes: GiB / 4 }), vm('busy2', 'a', 0.3, { vcpus: 2, memoryBytes: GiB / 4 }), ...idle],
    );
    expect((await plan(calm, { config: cpuOnly })).moves).toEqual([]);
  });

  it('a crowded host sheds at most crowdShedMaxVms idle VMs per plan (issue 26)', async () => {
    // The host above with crowdedFactor 2: 2 vCPUs per CPU, so a (16 vCPUs on 4 CPUs) would shed
    // 6 vCPUs besides busy1's 2: wide1, wide2 and two small idle VMs. Capped at 2 per plan, the two
    // with the most vCPUs unused go; at 0 only relief moves.
    const idle = [
      ...Array.from({ length: 8 }, (_, i) => vm(`i${i}`, 'a', 0, { memoryBytes: GiB / 4 })),
      vm('wide1', 'a', 0, { vcpus: 2, memoryBytes: GiB / 4 }),
      vm('wide2', 'a', 0.05, { vcpus: 2, memoryBytes: GiB / 4 }),
    ];
    const loose = { cpuOvercommitRatio: 16 };
    const s = state(
      [host('a', loose), host('b', loose), host('c', loose), host('d', loose)],
      [vm('busy1', 'a', 0.9, { vcpus: 2, memoryBytes: GiB / 4 }), vm('busy2', 'a', 0.8, { vcpus: 2, memoryBytes: GiB / 4 }), ...idle],
    );
    const withOptions = (options: Record<string, unknown>) =>
      policySchema.parse({
        cooldownSeconds: 600,
        maxMovesPerTick: 10,
        objective: { memoryWeight: 0 },
        spread: { enabled: false },
        policies: [{ name: 'balance', options }],
      });
    const moved = async (options: Record<string, unknown>) => (await plan(s, { config: withOptions(options) })).moves.map((m) => m.vmName).sort();
    expect(await moved({ crowdedFactor: 2, crowdShedMaxVms: 10 })).toEqual(['busy1', 'i0', 'i1', 'wide1', 'wide2'].sort());
    expect(await moved({ crowdedFactor: 2, crowdShedMaxVms: 2 })).toEqual(['busy1', 'wide1', 'wide2']);
    expect(await moved({ crowdedFactor: 2, crowdShedMaxVms: 0 })).toEqual(['busy1']);
    const bad = await plan(s, { config: withOptions({ crowdShedMaxVms: 1.5 }) });
    expect(bad.policyErrors.map((e) => e.message).join('; ')).toMatch(
      /policy\.policies\[balance\]\.options\.crowdShedMaxVms is 1\.5: it must be a whole number of VMs/,
    );
  });

  it('relief does not crowd a target: a host idle now that would hold 3.5 vCPUs per CPU is refused (issue 26)', async () => {
    // 8-CPU hosts, CPU only, spread off. a: four 2-vCPU VMs at 90 % (90 %, hot). b: 26 idle VMs, 0 %
    // now; c, d, e: one 4-vCPU VM at full use (50 %). b gains most and keeps the most CPU free (the
    // headroom score preferred it: 0.39 against 0.26), but with a VM it would hold 28 vCPUs on 8 CPUs,
    // 3.5 per CPU, more than crowdedFactor 3 x the cluster's 46 / 40.
    const cfg = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 10, objective: { memoryWeight: 0 }, spread: { enabled: false } });
    const big = { cpuCount: 8, cpuOvercommitRatio: 16 };
    const small = { memoryBytes: GiB / 8 };
    const s = state(
      [host('a', big), host('b', big), host('c', big), host('d', big), host('e', big)],
      [
        ...Array.from({ length: 4 }, (_, i) => vm(`busy${i}`, 'a', 0.9, { vcpus: 2, ...small })),
        ...Array.from({ length: 26 }, (_, i) => vm(`idle${i}`, 'b', 0, small)),
        ...['c', 'd', 'e'].map((h) => vm(`${h}1`, h, 1, { vcpus: 4, ...small })),
      ],
    );
    const p = await plan(s, { config: cfg });
    expect(p.moves.length).toBe(1);
    expect(p.moves[0].from).toBe('a');
    expect(['c', 'd', 'e']).toContain(p.moves[0].to);
    const why = (await evaluateTargets(s, s.vms[0], { config: cfg })).find((t) => t.host === 'b');
    expect(why).toMatchObject({ accepted: false, refusedBy: 'balance' });
    expect(why?.reason).toMatch(/b would be crowded \(3\.5 vCPUs per CPU committed, more than 3\.45: policy option crowdedFactor x the cluster's\)/);
    // The factor is the balance policy's option; a bad one is a policy error naming it.
    const lenient = policySchema.parse({ ...cfg, policies: [{ name: 'balance', options: { crowdedFactor: 4 } }] });
    expect((await plan(s, { config: lenient })).moves.map((m) => m.to)).toEqual(['b']);
    const bad = await plan(s, { config: policySchema.parse({ ...cfg, policies: [{ name: 'balance', options: { crowdedFactor: 'three' } }] }) });
    expect(bad.policyErrors.map((e) => e.message).join('; ')).toMatch(
      /policy\.policies\[balance\]\.options\.crowdedFactor is "three": it must be a number above 0/,
    );
  });
});

describe('memory in the objective', () => {
  it('relieves a memory-hot host with even CPU, taking the VM whose move costs least per gain', async () => {
    const hosts = [host('a', { memoryTotalBytes: 64 * GiB, cpuCount: 16 }), host('b', { memoryTotalBytes: 64 * GiB, cpuCount: 16 })];
    const vms = [
      vm('big', 'a', 0.5, { memoryBytes: 30 * GiB, vcpus: 4 }),
      vm('mid', 'a', 0.5, { memoryBytes: 20 * GiB, vcpus: 4 }),
      vm('small', 'a', 0, { memoryBytes: 10 * GiB }),
      vm('b1', 'b', 0.5, { memoryBytes: 8 * GiB, vcpus: 8 }),
    ];
    // a at 94 % memory; CPU 25 % on both.
    const p = await plan(state(hosts, vms), { config: policySchema.parse({ spread: { enabled: false } }) });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['small', 'b']]);
    // With memory out of the objective nothing can relieve it: the move gains nothing.
    const cpuOnly = await plan(state(hosts, vms), { config: policySchema.parse({ spread: { enabled: false }, objective: { memoryWeight: 0 } }) });
    expect(cpuOnly.moves).toEqual([]);
  });
});

describe('must-moves respect hard limits only', () => {
  it('takes the least bad target above the soft thresholds, and names the hard limit when none fits', async () => {
    // b and c at 70 % CPU: above 80 - 5 after taking the VM, which a balance move would refuse.
    const hosts = [host('a', { maintenance: true }), host('b'), host('c')];
    const vms = [vm('m', 'a', 0.8), vm('b1', 'b', 1), vm('b2', 'b', 1), vm('b3', 'b', 0.8), vm('c1', 'c', 1), vm('c2', 'c', 0.8)];
    const p = await plan(state(hosts, vms), { config });
    // c (45 %) is less bad than b (70 %).
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['m', 'c']]);
    expect(p.moves[0].reason).toMatch(/^maintenance: host a is in maintenance/);
    // Too big for anyone's memory: plan says so, naming the limit.
    const huge = [vm('huge', 'a', 0.1, { memoryBytes: 20 * GiB })];
    const q = await plan(state(hosts, huge), { config });
    expect(q.moves).toEqual([]);
    expect(q.skipped.find((s) => s.vmName === 'huge')?.reason).toMatch(
      /no eligible target within the hard limits: b lacks memory \(16384 MiB free, huge needs 20480 MiB\); c lacks memory/,
    );
    // A VM wider than the target's CPUs is refused whatever the overcommit (20 vCPUs, 4 CPUs, limit 16)...
    const wide = [vm('wide', 'a', 0.1, { vcpus: 20 })];
    expect((await plan(state(hosts, wide), { config })).skipped.find((s) => s.vmName === 'wide')?.reason).toMatch(
      /wide has 20 vCPUs, more than the 4 logical CPUs of b \(limit: a VM's vCPUs <= the target's CPUs\)/,
    );
    // ... and the vCPU overcommit is a hard limit too (4 + 13 placed > 4 CPUs x 4).
    const crowded = [vm('narrow', 'a', 0.1, { vcpus: 4 }), vm('b-wide', 'b', 0.1, { vcpus: 13 }), vm('c-wide', 'c', 0.1, { vcpus: 13 })];
    expect((await plan(state(hosts, crowded), { config })).skipped.find((s) => s.vmName === 'narrow')?.reason).toMatch(
      /b would exceed its vCPU overcommit \(17 vCPUs, limit 16\)/,
    );
  });
});

describe('rules are repaired, not only kept', () => {
  it('anti-affinity: a pair on one host is split, the plan naming the rule', async () => {
    const p = await plan(state([host('a'), host('b')], [vm('w1', 'a', 0.1, { tags: ['group:web'] }), vm('w2', 'a', 0.1, { tags: ['group:web'] })]), { config });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['w2', 'b']]);
    expect(p.moves[0].reason).toMatch(/^affinity: anti-affinity group web: shares a with w1/);
  });

  it('affinity: a group split over hosts rejoins the host most of it is on', async () => {
    const cfg = policySchema.parse({ ...config, affinityGroups: [{ name: 'db', type: 'affinity', vms: ['d1', 'd2', 'd3'] }] });
    const vms = [vm('d1', 'a', 0.1), vm('d2', 'a', 0.1), vm('d3', 'b', 0.1), vm('x', 'c', 0.1)];
    const p = await plan(state([host('a'), host('b'), host('c')], vms), { config: cfg });
    expect(p.moves.map((m) => [m.vmName, m.from, m.to])).toEqual([['d3', 'b', 'a']]);
    expect(p.moves[0].reason).toMatch(/^affinity: affinity group db: split over a, b; rejoins the others on a/);
    // Its home full: plan says which limit keeps it away.
    const full = await plan(state([host('a', { memoryTotalBytes: 2 * GiB }), host('b'), host('c')], vms), { config: cfg });
    expect(full.moves).toEqual([]);
    expect(full.skipped.find((s) => s.vmName === 'd3')?.reason).toMatch(/a lacks memory/);
  });

  it('a label rule (keep-off-label): a VM on a host its labels forbid leaves it', async () => {
    const cfg = policySchema.parse({
      ...config,
      policyDirs: ['policies/examples'],
      policies: [{ name: 'balance' }, { name: 'capacity' }, { name: 'keep-off-label', options: { label: 'gpu' } }],
    });
    const vms = [vm('plain', 'g', 0.1), vm('ok', 'g', 0.1, { tags: ['gpu-ok'] })];
    const p = await plan(state([host('g', { labels: { gpu: 'true' } }), host('b')], vms), { config: cfg, policies: await loadPolicies(cfg) });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['plain', 'b']]);
    expect(p.moves[0].reason).toMatch(/^keep-off-label: g is labelled gpu=true and plain lacks tag gpu-ok/);
  });

  it('a pinned VM is never moved, even by a must-move, and plan says so', async () => {
    const p = await plan(state([host('a', { maintenance: true }), host('b')], [vm('p', 'a', 0.1, { tags: ['pinned'] })]), { config });
    expect(p.moves).toEqual([]);
    expect(p.skipped.find((s) => s.vmName === 'p')?.reason).toMatch(/pin: p is pinned/);
  });
});

describe('VM states', () => {
  const hosts = () => [host('a', { maintenance: true }), host('b')];

  it('in maintenance: running moves live, paused live but never by post-copy, shut off cold, crashed and pmsuspended stay with what to do', async () => {
    const vms = [
      vm('run', 'a', 0.2),
      vm('pause', 'a', 0, { state: 'paused' }),
      vm('off', 'a', 0, { state: 'shutoff' }),
      vm('crash', 'a', 0, { state: 'crashed' }),
      vm('pm', 'a', 0, { state: 'pmsuspended' }),
    ];
    const p = await plan(state(hosts(), vms), { config: policySchema.parse({ maxMovesPerTick: 10, allowedTechniques: ['postcopy', 'precopy', 'cold'] }) });
    const by = Object.fromEntries(p.moves.map((m) => [m.vmName, m.technique]));
    expect(by.run).toBeDefined();
    expect(by.run).not.toBe('cold');
    expect(by.pause).toBe('precopy');
    expect(by.off).toBe('cold');
    expect(by.crash).toBeUndefined();
    expect(by.pm).toBeUndefined();
    expect(p.skipped.find((s) => s.vmName === 'crash')?.reason).toMatch(
      /crashed: moving it would hide the crash .*; destroy it \(virsh destroy\) so it is shut off and moves cold/,
    );
    expect(p.skipped.find((s) => s.vmName === 'pm')?.reason).toMatch(/pmsuspended.*wake it \(virsh dompmwakeup\) and it moves live/);
    // A paused VM allowed only post-copy cannot move.
    const onlyPost = await plan(state(hosts(), [vm('pause', 'a', 0, { state: 'paused' })]), {
      config: policySchema.parse({ allowedTechniques: ['postcopy'] }),
    });
    expect(onlyPost.skipped[0].reason).toBe(
      'paused: moves only by a pre-copy-family technique (precopy, xbzrle, autoconverge, multifd); add one to policy.allowedTechniques',
    );
  });

  it('anti-affinity on one host: the member cheapest to move leaves (shut off cold, then paused live), a crashed one stays', async () => {
    const two = (a: Partial<VmObservation>, b: Partial<VmObservation>) => [
      vm('m1', 'a', 0.1, { tags: ['group:db'], ...a }),
      vm('m2', 'a', 0.1, { tags: ['group:db'], ...b }),
    ];
    const moved = async (vms: VmObservation[]) => (await plan(state([host('a'), host('b')], vms), { config })).moves.map((m) => [m.vmName, m.technique]);
    // Listed first, so with both running it would stay; shut off, it leaves cold and m2 keeps running on a.
    expect(await moved(two({ state: 'shutoff' }, {}))).toEqual([['m1', 'cold']]);
    expect(await moved(two({ state: 'paused' }, {}))).toEqual([['m1', 'precopy']]);
    expect(await moved(two({ state: 'shutoff' }, { state: 'paused' }))).toEqual([['m1', 'cold']]);
    // Shut off with a local disk, it cannot move cold: the running one leaves instead.
    expect(await moved(two({ state: 'shutoff', localDiskBytes: 2 ** 30 }, {}))).toEqual([['m2', 'precopy']]);
    // A crashed member cannot move: the running one leaves instead.
    expect((await moved(two({}, { state: 'crashed' }))).map(([name]) => name)).toEqual(['m1']);
    // Both crashed: one is selected and plan says what to do.
    const stuck = await plan(state([host('a'), host('b')], two({ state: 'crashed' }, { state: 'crashed' })), { config });
    expect(stuck.moves).toEqual([]);
    expect(stuck.skipped.map((s) => [s.vmName, s.reason])).toEqual([
      ['m2', expect.stringMatching(/^anti-affinity group db: shares a with m1.*crashed: .*destroy it/)],
    ]);
    // With both running, the first listed stays as before.
    expect((await moved(two({}, {}))).map(([name]) => name)).toEqual(['m2']);
  });

  it('rules treat states as maintenance does; balance moves only running VMs', async () => {
    const vms = [vm('w1', 'a', 0.1, { tags: ['group:web'] }), vm('w2', 'a', 0, { state: 'paused', tags: ['group:web'] })];
    const p = await plan(state([host('a'), host('b')], vms), { config });
    expect(p.moves.map((m) => [m.vmName, m.technique])).toEqual([['w2', 'precopy']]);
    // A hot host's paused VM is not a balance candidate.
    const hot = [vm('h1', 'a', 1), vm('h2', 'a', 1), vm('h3', 'a', 1), vm('h4', 'a', 1), vm('zz', 'a', 0, { state: 'paused' })];
    const q = await plan(state([host('a'), host('b'), host('c')], hot), { config });
    expect(q.moves.map((m) => m.vmName)).not.toContain('zz');
  });
});

describe('forecast trigger', () => {
  it('relieves a host whose CPU is rising toward the threshold when on, not when off', async () => {
    // a: window mean 70 %, last 78 % over 3 samples: +8 points a tick, 102 % forecast 3 ticks ahead.
    const rising = { last: 0.78, mean: 0.7, p90: 0.78, samples: 3 };
    const vms = [
      vm('r1', 'a', 0.7, { cpuUtilization: rising }),
      vm('r2', 'a', 0.7, { cpuUtilization: rising }),
      vm('r3', 'a', 0.7, { cpuUtilization: rising }),
      vm('r4', 'a', 0.7, { cpuUtilization: rising }),
      vm('b1', 'b', 0.6),
      vm('c1', 'c', 0.5),
    ];
    const s = state([host('a'), host('b'), host('c')], vms);
    s.hosts[0].cpuUtilization = rising;
    const off = await plan(s, { config: policySchema.parse({ spread: { enabled: false } }) });
    expect(off.moves).toEqual([]);
    const on = await plan(s, { config: policySchema.parse({ spread: { enabled: false }, forecast: { enabled: true, aheadTicks: 3 } }) });
    expect(on.moves.length).toBeGreaterThan(0);
    expect(on.moves[0].reason).toMatch(/host a CPU 70% forecast to reach 102% > 80% within 3 ticks/);
  });
});
