/**
 * `virt-balancer maintenance --return` against the lab's three hosts: each host drained, its
 * libvirtd restarted by the operator's hook (a small script run as `{name}`), waited for until it
 * answers libvirt again, its VMs moved back, then the next host. The controller is killed
 * (SIGKILL, with its process group, as systemd's control-group kill does) once host 1 is finished
 * and host 2's hook has begun; the same command run again resumes at host 2's hook, never redoing
 * host 1. Asserted: every guest's memory intact (heartbeat), the VMs back on their hosts, the
 * journal and the webhooks show each step of each host, `status` names the interrupted roll's host
 * and step, the resume started where the kill left it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { type MaintenanceJournalEntry, readJournal } from '../../src/history/index.js';

const execFileAsync = promisify(execFile);
const HOME = { 'mt-a': 'lab1', 'mt-b': 'lab2' } as const;
const VMS = Object.keys(HOME) as (keyof typeof HOME)[];
const HOSTS = ['lab1', 'lab2', 'lab3'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let lab: Lab;
let dir: string;
let stateDir: string;
let config: string;
let hooks: Server;
const received: { event: string; data: Record<string, unknown> }[] = [];
let child: ChildProcess | undefined;

/** The hook: restart the named lab host's libvirtd (its guests, none after the drain, would keep running). */
const HOOK = `
import { labFromEnv } from ${JSON.stringify(resolve('lab/lab.js'))};
import { startHost, stopLibvirtd } from ${JSON.stringify(resolve('lab/hosts.js'))};
const name = process.argv[2];
console.log('hook for ' + name);
// A moment before the restart: the test kills the controller here on host 2.
await new Promise((r) => setTimeout(r, 1500));
const lab = await labFromEnv();
const host = lab.hosts.find((h) => h.name === name);
if (!host) { console.error('no lab host ' + name); process.exit(3); }
await stopLibvirtd(host);
await startHost(host);
console.log('restarted libvirtd of ' + name);
`;

function startMaintenance(log: { text: string }): ChildProcess {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'maintenance', '--return', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  p.stdout!.on('data', (d) => (log.text += d));
  p.stderr!.on('data', (d) => (log.text += d));
  return p;
}

async function rollEntries(): Promise<MaintenanceJournalEntry[]> {
  const file = join(stateDir, 'journal.jsonl');
  if (!existsSync(file)) return [];
  return (await readJournal(file, { warn: () => {} })).filter((e): e is MaintenanceJournalEntry => e.type === 'maintenance');
}

describe('rolling maintenance on the lab: drain, hook restarts libvirtd, health, return; resumed after a kill', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-maintenance-'));
    stateDir = join(dir, 'state');
    config = join(dir, 'config.yaml');
    const hookFile = join(dir, 'hook.mts');
    writeFileSync(hookFile, HOOK);
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { event: string; data: Record<string, unknown> };
        received.push(parsed);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      config,
      stringify({
        ...base,
        stateDir,
        metrics: { listen: '' },
        policy: { cpuHighPercent: 100, memoryHighPercent: 100 },
        libvirt: { reconnectInitialDelaySeconds: 0.5, reconnectMaxDelaySeconds: 2 },
        notifications: { webhooks: [{ url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/`, events: ['maintenance.roll', 'maintenance.step'] }] },
        maintenance: { hook: [process.execPath, '--import', 'tsx', hookFile, '{name}'], hookTimeoutSeconds: 90, healthyTimeoutSeconds: 60 },
      }),
    );
    for (const name of VMS) await lab.destroyVm(name).catch(() => {});
    await Promise.all(VMS.map((name) => lab.createVm({ name, host: HOME[name], vcpus: 1, memoryMiB: 128, cpuBusyPercent: 5, dirtyMiBps: 1, workloadMiB: 16 })));
  }, 240_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
    await new Promise((r) => hooks?.close(r));
    for (const name of VMS) await lab?.destroyVm(name).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('rolls the three hosts, every guest intact and home; killed on host 2, it resumes at host 2’s hook', async () => {
    const before = new Map(await Promise.all(VMS.map(async (name) => [name, (await lab.heartbeat(name)).seq] as const)));

    // First run: killed with its hook once host 1 is finished and host 2's hook began.
    const first = { text: '' };
    child = startMaintenance(first);
    const killBy = Date.now() + 120_000;
    for (;;) {
      const entries = await rollEntries();
      if (entries.some((e) => e.event === 'step-started' && e.host === 'lab2' && e.step === 'hook')) break;
      expect(child.exitCode, `maintenance ended before host 2's hook:\n${first.text}`).toBeNull();
      expect(Date.now() < killBy, `host 2's hook did not start in time:\n${first.text}`).toBe(true);
      await sleep(100);
    }
    process.kill(-child.pid!, 'SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const atKill = (await rollEntries()).length;
    const lab1Done = (await rollEntries()).filter((e) => e.host === 'lab1' && e.event === 'step-done').map((e) => e.step);
    expect(lab1Done).toEqual(['drain', 'hook', 'healthy', 'return']);
    // `status` says where the interrupted roll is.
    const status = await execFileAsync(process.execPath, [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'status',
      '--json',
      '--sample-seconds',
      '1',
      '--config',
      config,
    ]);
    expect((JSON.parse(status.stdout) as { maintenance?: string }).maintenance).toMatch(/^maintenance roll \w+ in progress: host 2 of 3 \(lab2\), step hook$/);

    // The same command again: it resumes the roll.
    const second = { text: '' };
    child = startMaintenance(second);
    const code = await new Promise<number | null>((r) => child!.once('exit', r));
    expect(code, second.text).toBe(0);
    expect(second.text).toContain('roll-finished');

    const entries = await rollEntries();
    const rollIds = new Set(entries.map((e) => e.rollId));
    expect(rollIds.size).toBe(1);
    const resumed = entries.slice(atKill);
    // Resumed at host 2's hook: no step of host 1 again, host 2's drain not redone.
    expect(resumed.find((e) => e.event === 'step-started')).toMatchObject({ host: 'lab2', step: 'hook' });
    expect(resumed.some((e) => e.host === 'lab1')).toBe(false);
    expect(resumed.some((e) => e.host === 'lab2' && e.step === 'drain')).toBe(false);
    // Every step of every host done once, in order; the hook's output journaled.
    for (const host of HOSTS) {
      const done = entries.filter((e) => e.host === host && e.event === 'step-done');
      expect(
        done.map((e) => e.step),
        host,
      ).toEqual(['drain', 'hook', 'healthy', 'return']);
      const hook = done.find((e) => e.step === 'hook')!;
      expect(hook.exitCode).toBe(0);
      expect(hook.stdoutTail).toContain(`restarted libvirtd of ${host}`);
    }
    expect(entries.at(-1)?.event).toBe('roll-finished');
    // Each VM left its host and came back.
    const moved = (host: string, step: string) => entries.find((e) => e.host === host && e.step === step && e.event === 'step-done')?.moved ?? [];
    for (const vm of VMS) {
      expect(moved(HOME[vm], 'drain')).toContain(vm);
      expect(moved(HOME[vm], 'return')).toContain(vm);
      expect(await lab.whereIs(vm)).toBe(HOME[vm]);
    }

    // Webhooks: every step of every host sent (the kill may lose a delivery in flight: the resumed run's all arrive).
    await sleep(1000);
    const steps = received.filter((b) => b.event === 'maintenance.step' && b.data.event === 'step-done').map((b) => `${b.data.host}/${b.data.step}`);
    for (const host of ['lab2', 'lab3']) for (const step of ['hook', 'healthy', 'return']) expect(steps).toContain(`${host}/${step}`);
    for (const step of ['drain', 'hook', 'healthy', 'return']) expect(steps).toContain(`lab1/${step}`);
    expect(received.some((b) => b.event === 'maintenance.roll' && b.data.event === 'roll-finished')).toBe(true);

    // Guests intact: their heartbeats go on from where they were, memory checked.
    for (const vm of VMS) expect((await lab.waitForHeartbeat(vm, { afterSeq: before.get(vm)! + 2, timeoutMs: 30_000 })).status).toBe('OK');
  }, 300_000);
});
