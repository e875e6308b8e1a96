/**
 * Issue 24, kind 4: a rule that can never be met must not block everything. Must-moves
 * (maintenance, drain, power-off) re-home a keep-together group as one unit; a group no single
 * host can hold is said once in the plan and moved as a best effort; check-config and plan say
 * when every host is in maintenance.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { renderPlan } from '../../../src/cli/commands/plan.js';
import { unmeetableRules } from '../../../src/controller/workflows/check-config.js';
import { parseConfig } from '../../../src/config/index.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { scenarioSchema, Simulator, type Scenario, type SimTick } from '../../../src/sim/simulator.js';

const root = join(import.meta.dirname, '../../..');
const config = policySchema.parse({});
const load = (file: string) => scenarioSchema.parse(parse(readFileSync(join(import.meta.dirname, '../../cases', file), 'utf8')));
const GiB = 1024;

async function run(scenario: Scenario, ticks: number): Promise<{ sim: Simulator; ticks: SimTick[] }> {
  const sim = new Simulator(scenario);
  const out: SimTick[] = [];
  for (let i = 0; i < ticks; i++) out.push(await sim.tick({ config }));
  return { sim, ticks: out };
}

const members = ['app-1', 'app-2', 'db-1'];

describe('affinity-group-maintenance (Proxmox forum 182890)', () => {
  it('within 10 ticks kvm3 is empty and app-1, app-2, db-1 share one host (kvm1 or kvm2); at most 3 moves', async () => {
    const { sim, ticks } = await run(load('affinity-group-maintenance.scenario.yaml'), 10);
    const moves = ticks.flatMap((t) => t.moves);
    const state = sim.state();
    expect(state.vms.filter((v) => v.host === 'kvm3').map((v) => v.name)).toEqual([]);
    const homes = new Set(members.map((m) => sim.where(m)));
    expect(homes.size).toBe(1);
    expect(['kvm1', 'kvm2']).toContain([...homes][0]);
    expect(moves.length).toBeLessThanOrEqual(3);
    expect(moves.map((m) => m.vmName).sort()).toEqual(members);
  });

  it('drain (every move in one plan, as `drain` plans it): the three go to one host together', async () => {
    const scenario = load('affinity-group-maintenance.scenario.yaml');
    const state = new Simulator({ ...scenario, hosts: scenario.hosts.map((h) => ({ ...h, maintenance: false })) }).state();
    // What `drain kvm3` does: the host marked in maintenance in the observed state, a large move budget.
    const drained = { ...state, hosts: state.hosts.map((h) => (h.name === 'kvm3' ? { ...h, maintenance: true } : h)) };
    const result = await plan(drained, { config, maxMoves: 10_000 });
    expect(result.moves.map((m) => m.vmName).sort()).toEqual(members);
    expect(new Set(result.moves.map((m) => m.to)).size).toBe(1);
    expect(result.notices).toEqual([]);
  });
});

describe('a keep-together group no single host can hold', () => {
  // kvm1 and kvm2 have 36 GiB free each; the group needs 48 GiB.
  const scenario = scenarioSchema.parse({
    tickSeconds: 30,
    windowSamples: 3,
    hosts: [
      { name: 'kvm1', cpuCount: 16, memoryMiB: 64 * GiB },
      { name: 'kvm2', cpuCount: 16, memoryMiB: 64 * GiB },
      { name: 'kvm3', cpuCount: 16, memoryMiB: 64 * GiB, maintenance: true },
    ],
    vms: [
      ...[1, 2, 3].map((i) => ({ name: `erp-${i}`, host: 'kvm3', vcpus: 2, memoryMiB: 16 * GiB, cpu: 0.2, tags: ['affinity:erp'] })),
      { name: 'big-1', host: 'kvm1', vcpus: 2, memoryMiB: 28 * GiB, cpu: 0.2 },
      { name: 'big-2', host: 'kvm2', vcpus: 2, memoryMiB: 28 * GiB, cpu: 0.2 },
    ],
  });

  it('is said once in the plan, with the reason, and its members still leave the host in maintenance as a best effort (most of the group together)', async () => {
    const state = new Simulator(scenario).state();
    const result = await plan(state, { config, maxMoves: 10 });
    const notices = result.notices ?? [];
    expect(notices).toHaveLength(1);
    expect(notices[0].source).toBe('affinity');
    expect(notices[0].message).toMatch(
      /affinity group erp \(3 VMs, 48\.0 GiB, 6 vCPUs\) must leave kvm3 and fits on no single host \(kvm1 short of 12\.0 GiB, kvm2 short of 12\.0 GiB\): its members move as a best effort/,
    );
    expect(result.moves.map((m) => m.vmName).sort()).toEqual(['erp-1', 'erp-2', 'erp-3']);
    const targets = result.moves.map((m) => m.to).sort();
    expect(targets).toEqual(['kvm1', 'kvm1', 'kvm2']);
    // The operator sees it where the plan is read.
    expect(renderPlan(result)).toContain('NOTICE (affinity): affinity group erp (3 VMs, 48.0 GiB, 6 vCPUs) must leave kvm3');
  });

  it('in the simulator kvm3 is emptied and the group is not moved back and forth', async () => {
    const { sim, ticks } = await run(scenario, 20);
    expect(
      sim
        .state()
        .vms.filter((v) => v.host === 'kvm3')
        .map((v) => v.name),
    ).toEqual([]);
    const moves = ticks.flatMap((t) => t.moves);
    expect(new Set(moves.map((m) => m.vmName)).size).toBe(moves.length);
  });
});

describe('every host in maintenance', () => {
  it('plan says the VMs have nowhere to go instead of an empty, quiet plan', async () => {
    const scenario = load('affinity-group-maintenance.scenario.yaml');
    const state = new Simulator({ ...scenario, hosts: scenario.hosts.map((h) => ({ ...h, maintenance: true })) }).state();
    const result = await plan(state, { config });
    expect(result.moves).toEqual([]);
    expect((result.notices ?? []).map((n) => n.message)).toContainEqual(
      expect.stringMatching(/^every host is in maintenance, down or in standby: the VMs on kvm1 \(1\), kvm2 \(1\), kvm3 \(3\) have no host to go to/),
    );
    // Only the engine's notice: the affinity group's 'moves as a best effort' would contradict it
    // (nothing can move) and came back every tick (fresh-user find).
    expect((result.notices ?? []).map((n) => n.source)).toEqual(['engine']);
  });

  it('check-config says so instead of OK', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-check-'));
    const file = join(dir, 'config.yaml');
    await writeFile(
      file,
      [
        'hosts:',
        '  - { name: kvm1, uri: "qemu+tcp://127.0.52.250:1/system", maintenance: true }',
        '  - { name: kvm2, uri: "qemu+tcp://127.0.52.251:1/system", maintenance: true }',
        `stateDir: ${dir}`,
        'policy:',
        '  affinityGroups: [{ name: spread, type: anti-affinity, vms: [a, b, c] }]',
        '',
      ].join('\n'),
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'check-config', '-c', file], {
      cwd: root,
    });
    expect(stdout).not.toMatch(/: OK \(/);
    expect(stdout).toMatch(/: valid, but a rule cannot be met \(2 hosts;/);
    expect(stdout).toContain('warning: every host is in maintenance (hosts[].maintenance: kvm1, kvm2)');
    expect(stdout).toContain('warning: anti-affinity group spread has 3 VMs but only 0 host(s) out of maintenance');
  }, 60_000);
});

describe('rules that contradict each other (fresh-user find)', () => {
  it('check-config warns when VMs are both kept together and kept apart, naming both groups', () => {
    const config = parseConfig({
      hosts: [
        { name: 'kvm1', uri: 'qemu+tcp://127.0.52.250:1/system' },
        { name: 'kvm2', uri: 'qemu+tcp://127.0.52.251:1/system' },
      ],
      policy: {
        affinityGroups: [
          { name: 'together', type: 'affinity', vms: ['e1', 'e2', 'e3'] },
          { name: 'apart', type: 'anti-affinity', vms: ['e1', 'e2'] },
          { name: 'elsewhere', type: 'anti-affinity', vms: ['e3', 'x9'] },
        ],
      },
    });
    expect(unmeetableRules(config)).toEqual([
      'e1, e2 are in affinity group together (keep together) and in anti-affinity group apart (keep apart): both cannot hold; take them out of one of the two',
    ]);
  });
});
