/**
 * The executor against real lab hosts: the `migrate` command end to end, an abort at the deadline
 * that leaves the VM running intact on the source, and a second controller that finds the running
 * job instead of starting another.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Collector } from '../../src/cluster/collector.js';
import { HostConnections } from '../../src/cluster/connections.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { Executor, Journal, readJournal } from '../../src/executor/index.js';
import { silentLogger } from '../../src/log/logger.js';
import type { Move } from '../../src/policy/plan-types.js';
import { Lab, labFromEnv } from './lab.js';
import { sleep } from './run.js';

const execFileAsync = promisify(execFile);
const created: string[] = [];
let lab: Lab;
let config: Config;

function moveOf(vm: { name: string; uuid: string }, from: string, to: string, technique: Move['technique']): Move {
  return {
    vmName: vm.name,
    vmUuid: vm.uuid,
    from,
    to,
    technique,
    copyStorage: false,
    predicted: { totalSeconds: 1, downtimeMs: 10, bytes: 1, converges: true },
    reason: 'test',
    gain: 0,
    inputs: { memoryBytes: 0, dirtyRateMiBps: 0, bandwidthMiBps: 8, downtimeBudgetMs: 300 },
  };
}

describe('migration executor in the lab', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    config = await loadConfig(inject('labConfigPath'));
    config = { ...config, stateDir: `${inject('labDir')}/state-executor-test` };
  });
  afterAll(async () => {
    for (const name of created) await lab.destroyVm(name).catch(() => {});
  });

  it('migrate --json moves a VM with the chosen technique and the guest stays intact', async () => {
    created.push('ex-cli');
    await lab.createVm({ name: 'ex-cli', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 20, dirtyMiBps: 2, workloadMiB: 32 });
    const before = await lab.heartbeat('ex-cli');
    const { stdout } = await execFileAsync('npx', ['tsx', 'src/cli/main.ts', 'migrate', 'ex-cli', '--to', 'lab3', '--json', '--config', inject('labConfigPath')], { timeout: 120_000 });
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ vm: 'ex-cli', from: 'lab1', to: 'lab3', outcome: 'completed' });
    expect(['precopy', 'xbzrle', 'multifd', 'autoconverge', 'hybrid', 'postcopy']).toContain(out.technique);
    expect(out.totalMs).toBeGreaterThan(0);
    expect(out.bytes).toBeGreaterThan(10 * 2 ** 20);
    expect(out.predicted.totalSeconds).toBeGreaterThan(0);
    expect(await lab.whereIs('ex-cli')).toBe('lab3');
    expect((await lab.waitForHeartbeat('ex-cli', { afterSeq: before.seq + 2, timeoutMs: 30_000 })).status).toBe('OK');
  });

  it('migrate names an unknown VM and an unknown host in one clear line', async () => {
    const run = (args: string[]) => execFileAsync('npx', ['tsx', 'src/cli/main.ts', 'migrate', ...args, '--config', inject('labConfigPath')]).then(() => '', (e) => String(e.stderr));
    expect(await run(['no-such-vm', '--to', 'lab2'])).toMatch(/^virt-balancer: VM "no-such-vm" was not found on any reachable host/m);
    expect(await run(['x', '--to', 'lab9'])).toMatch(/unknown host "lab9"; hosts in .*: lab1, lab2, lab3/);
  });

  it('aborts a migration that cannot converge at the deadline; the VM keeps running on the source, memory intact; a second executor sees the job and refuses another', async () => {
    created.push('ex-stuck');
    await lab.createVm({ name: 'ex-stuck', host: 'lab2', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 40, workloadMiB: 64 });
    const before = await lab.heartbeat('ex-stuck');
    const slow: Config = {
      ...config,
      policy: { ...config.policy, allowedTechniques: ['precopy'] },
      migration: { ...config.migration, bandwidthMiBps: 8, deadlineSeconds: 10, pollIntervalMs: 500 },
    };
    const connections = new HostConnections(slow, { logger: silentLogger() });
    await connections.start();
    const collector = new Collector(slow, connections, { logger: silentLogger() });
    const state0 = await collector.collect();
    const vm = state0.vms.find((v) => v.name === 'ex-stuck')!;
    const journal = new Journal(slow.stateDir);
    const first = new Executor(slow, { connections, logger: silentLogger(), journal });
    const admitted = first.submit([moveOf(vm, 'lab2', 'lab1', 'precopy')], state0);
    expect(admitted.admitted).toHaveLength(1);

    // "Restart": a fresh executor and collector find the running job.
    await sleep(3000);
    const connections2 = new HostConnections(slow, { logger: silentLogger() });
    await connections2.start();
    const state1 = await new Collector(slow, connections2, { logger: silentLogger() }).collect();
    expect(first.finished(), 'the first migration should still run').toEqual([]);
    expect(state1.vms.find((v) => v.name === 'ex-stuck')!.jobRunning).toBe(true);
    const second = new Executor(slow, { connections: connections2, logger: silentLogger(), journal });
    second.reconcile(state1);
    expect(second.inFlight().map((m) => m.vmName)).toContain('ex-stuck');
    const again = second.submit([moveOf(vm, 'lab2', 'lab3', 'precopy')], state1);
    expect(again.admitted).toHaveLength(0);
    expect(again.rejected[0].reason).toMatch(/already running/);

    await first.whenIdle();
    const [result] = first.finished();
    expect(result.outcome).toBe('aborted');
    expect(result.error).toMatch(/deadline/);
    expect(await lab.whereIs('ex-stuck')).toBe('lab2');
    expect((await lab.waitForHeartbeat('ex-stuck', { afterSeq: before.seq + 3, timeoutMs: 30_000 })).status).toBe('OK');
    const entries = await readJournal(journal.file);
    expect(entries.some((e) => e.type === 'outcome' && e.vm === 'ex-stuck' && e.outcome === 'aborted')).toBe(true);
    expect(entries.some((e) => e.type === 'found-running-job' && e.vm === 'ex-stuck')).toBe(true);
    await connections.close();
    await connections2.close();
  });
});
