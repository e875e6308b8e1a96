/**
 * One executor per cluster, against the lab: with `run` serving the state directory, `drain lab1`
 * hands its request to the daemon over the control socket (it was a second executor: the daemon
 * then moved a drained VM back 25 s later, its cooldown blind to the CLI's move, and the metrics
 * never counted those migrations). Asserted: the daemon served the drain, no VM went back to
 * lab1 over the next ticks, every move is in the daemon's /metrics migration counter and its
 * journal, and every guest's memory is intact (heartbeat).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { readJournal } from '../../src/history/index.js';

const execFileAsync = promisify(execFile);
const VMS = ['hand-a', 'hand-b'];
const SOURCE = 'lab1';
const PREFIX = process.env.VB_LAB_ADDRESS_PREFIX ?? '127.0.0.';
const LISTEN = `${PREFIX}202:${20_000 + (process.pid % 10_000)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let lab: Lab;
let dir: string;
let stateDir: string;
let config: string;
let daemon: ChildProcess | undefined;
let daemonLog = '';

describe('drain beside a running daemon: one executor', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-handover-'));
    stateDir = join(dir, 'state');
    config = join(dir, 'config.yaml');
    const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      config,
      stringify({
        ...base,
        stateDir,
        loop: { schedule: '*/3 * * * * *', dryRun: false },
        metrics: { listen: LISTEN },
        // Nothing is hot: the daemon's own ticks would move nothing; the drain's moves are the only ones.
        policy: { cpuHighPercent: 100, memoryHighPercent: 100, cooldownSeconds: 600 },
        libvirt: { reconnectInitialDelaySeconds: 0.5, reconnectMaxDelaySeconds: 2 },
      }),
    );
    for (const name of VMS) await lab.destroyVm(name).catch(() => {});
    for (const name of VMS) await lab.createVm({ name, host: SOURCE, vcpus: 1, memoryMiB: 128, cpuBusyPercent: 5, dirtyMiBps: 1, workloadMiB: 16 });
  }, 240_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.once('exit', r));
    }
    for (const name of VMS) await lab?.destroyVm(name).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('the daemon serves the drain; nothing moves back; every move in its metrics and journal; guests intact', async () => {
    const before = new Map(await Promise.all(VMS.map(async (name) => [name, (await lab.heartbeat(name)).seq] as const)));
    daemon = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', config, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.on('data', (d) => (daemonLog += d));
    daemon.stderr!.on('data', (d) => (daemonLog += d));
    // Up: the control socket opens once the metrics endpoint serves.
    const upBy = Date.now() + 60_000;
    while (!existsSync(join(stateDir, 'control.sock'))) {
      expect(Date.now() < upBy && daemon.exitCode === null, `daemon did not come up:\n${daemonLog}`).toBe(true);
      await sleep(250);
    }

    const drain = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'drain', SOURCE, '--json', '--config', config], {
      timeout: 180_000,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(drain.code, `${drain.stderr}\n${daemonLog}`).toBe(0);
    const result = JSON.parse(drain.stdout) as {
      servedBy?: string;
      ok: boolean;
      rounds: number;
      results: { vm: string; from: string; to: string; outcome: string; technique: string }[];
    };
    // Served by the daemon, not a second executor in the command; its rounds reported as the command's own are.
    expect(result.servedBy).toBe('daemon');
    expect([result.ok, result.rounds]).toEqual([true, 1]);
    expect(daemonLog).toContain('operator request over the control socket');
    expect(result.results.map((r) => [r.vm, r.from, r.outcome]).sort()).toEqual(VMS.map((vm) => [vm, SOURCE, 'completed']));
    const placed = new Map(result.results.map((r) => [r.vm, r.to]));

    // A couple of ticks (every 3 s): the daemon's cooldown saw the moves; none goes back.
    await sleep(8_000);
    for (const vm of VMS) expect(await lab.whereIs(vm)).toBe(placed.get(vm));

    // Every move counted in the daemon's metrics and journaled in its journal.
    const metrics = await (await fetch(`http://${LISTEN}/metrics`)).text();
    const completed = metrics
      .split('\n')
      .filter((l) => l.startsWith('virt_balancer_migrations_total{') && l.includes('outcome="completed"'))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    expect(completed).toBe(VMS.length);
    const outcomes = (await readJournal(join(stateDir, 'journal.jsonl'))).filter((e) => e.type === 'outcome');
    expect(outcomes.map((e) => (e as { vm: string }).vm).sort()).toEqual([...VMS].sort());

    // Guests intact: their heartbeats go on from where they were, memory checked.
    for (const vm of VMS) expect((await lab.waitForHeartbeat(vm, { afterSeq: before.get(vm)! + 2, timeoutMs: 30_000 })).status).toBe('OK');

    daemon.kill('SIGTERM');
    expect(await new Promise((r) => daemon!.once('exit', (code) => r(code)))).toBe(0);
  }, 240_000);
});
