/**
 * `run` killed with SIGKILL in the middle of a migration it started, then started again: libvirt
 * carries the peer-to-peer job on, and the new process must adopt it (no second job for the VM),
 * watch it to its end and record its real outcome. The guest must be intact on its new host.
 *
 * The guests write nothing after filling their memory: a slow multi-pass migration of a TCG guest
 * that keeps writing crashes its kernel on this machine even without libvirt (docs/lab-guest-crash.md),
 * and this test is about the controller, not about that.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readJournal, type JournalEntry } from '../../src/history/index.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { run, sleep } from '../../lab/run.js';

const VMS = ['rs-hot1', 'rs-hot2'];
const STUCK = 'rs-stuck';
const SOURCE = 'lab1';
let lab: Lab;
let dir: string;
const children: ChildProcess[] = [];
const outputs = new Map<ChildProcess, string>();

function startRun(configFile: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', configFile, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  outputs.set(child, '');
  const keep = (d: Buffer) => outputs.set(child, outputs.get(child) + String(d));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  children.push(child);
  return child;
}

async function waitForJournal(file: string, what: string, predicate: (entries: JournalEntry[]) => boolean, timeoutMs: number): Promise<JournalEntry[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const entries = await readJournal(file);
    if (predicate(entries)) return entries;
    if (Date.now() > until) {
      const logs = [...outputs.values()].map((o) => o.split('\n').slice(-15).join('\n')).join('\n---\n');
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; journal:\n${entries.map((e) => JSON.stringify(e)).join('\n')}\ncontroller output (last lines):\n${logs}`,
      );
    }
    await sleep(500);
  }
}

/** A config for this test: the lab's hosts, a state dir of its own, no metrics endpoint, and `settings`. */
function writeTestConfig(name: string, settings: Record<string, unknown>): { configFile: string; journalFile: string } {
  const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as Record<string, unknown>;
  const configFile = join(dir, `${name}.yaml`);
  const stateDir = join(dir, `state-${name}`);
  writeFileSync(configFile, stringify({ ...base, stateDir, metrics: { listen: '' }, ...settings }));
  return { configFile, journalFile: join(stateDir, 'journal.jsonl') };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );

describe('run killed mid-migration and started again', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-restart-'));
    for (const name of VMS) await lab.createVm({ name, host: SOURCE, vcpus: 1, memoryMiB: 192, cpuBusyPercent: 70, dirtyMiBps: 0, workloadMiB: 64 });
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const name of [...VMS, STUCK]) await lab.destroyVm(name).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('adopts the running job instead of starting a second one, records its outcome, and the guest is intact', async () => {
    await sleep(3000);
    const status = JSON.parse(
      (await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'status', '--json', '--config', inject('labConfigPath')])).stdout,
    ) as { hosts: { name: string; cpuUtilization: number }[] };
    const sourcePercent = status.hosts.find((h) => h.name === SOURCE)!.cpuUtilization * 100;
    expect(sourcePercent, 'the two busy guests should load their host').toBeGreaterThan(5);
    // A slow link (8 MiB/s for 192 MiB guests: about 25 s a move) leaves time to kill the
    // controller mid-job; one move at a time; a threshold below the hot host's measured load.
    const { configFile, journalFile } = writeTestConfig('restart', {
      loop: { schedule: '*/3 * * * * *', windowSamples: 1 },
      policy: {
        cpuHighPercent: Math.max(2, Math.floor(sourcePercent * 0.8)),
        cpuLowPercent: 1,
        hysteresisPercent: 0,
        cooldownSeconds: 0,
        maxMovesPerTick: 1,
        moveCostWeight: 0,
        allowedTechniques: ['precopy'],
      },
      migration: { bandwidthMiBps: 8, maxConcurrent: 1, deadlineSeconds: 240 },
    });

    const first = startRun(configFile);
    const started = await waitForJournal(journalFile, 'the first run to start a migration', (es) => es.some((e) => e.type === 'started'), 120_000);
    const move = started.find((e) => e.type === 'started') as Extract<JournalEntry, { type: 'started' }>;
    await sleep(3000);
    first.kill('SIGKILL');
    await exited(first);
    // libvirt carries the peer-to-peer job on without its client.
    const job = await run('virsh', ['-c', lab.host(move.from).uri, 'domjobinfo', move.vm]);
    expect(job.stdout, 'the job should outlive the killed controller').toMatch(/Operation:\s+Outgoing migration/);

    const second = startRun(configFile);
    const entries = await waitForJournal(
      journalFile,
      'the second run to record the adopted outcome',
      (es) => es.some((e) => e.type === 'outcome' && e.vmUuid === move.vmUuid),
      240_000,
    );
    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);

    const mine = entries.filter((e) => 'vmUuid' in e && e.vmUuid === move.vmUuid);
    expect(
      mine.filter((e) => e.type === 'started'),
      'exactly one migration of the VM was started',
    ).toHaveLength(1);
    expect(mine.some((e) => e.type === 'found-running-job')).toBe(true);
    const outcome = mine.find((e) => e.type === 'outcome') as Extract<JournalEntry, { type: 'outcome' }>;
    expect(outcome).toMatchObject({ outcome: 'completed', from: move.from, to: move.to, adoptedAfterRestart: true });
    expect(outcome.bytes).toBeGreaterThan(64 * 2 ** 20);
    expect(outcome.totalMs).toBeGreaterThan(3000);
    expect(await lab.whereIs(move.vm)).toBe(move.to);
    const before = await lab.heartbeat(move.vm);
    expect((await lab.waitForHeartbeat(move.vm, { afterSeq: before.seq + 2, timeoutMs: 30_000 })).status).toBe('OK');
    const history = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'history', '--config', configFile]);
    expect(history.stdout).toMatch(/seen to its end after a controller restart/);
  });

  it('keeps the deadline of an adopted job: migrate killed mid-job, run --once aborts it on time; the VM stays on the source, memory intact', async () => {
    // Dirtying 40 MiB/s over an 8 MiB/s link: pre-copy cannot converge, only the deadline ends it.
    await lab.createVm({ name: STUCK, host: 'lab2', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 40, workloadMiB: 64 });
    // Past the time run --once needs to start and adopt the job on a loaded machine (15-30 s seen).
    const deadlineSeconds = 40;
    const { configFile, journalFile } = writeTestConfig('deadline', {
      // Nothing is hot: the only migration in this test is the adopted one.
      policy: { cpuHighPercent: 100, memoryHighPercent: 100, allowedTechniques: ['precopy'] },
      migration: { bandwidthMiBps: 8, deadlineSeconds, pollIntervalMs: 500 },
    });
    const migrate = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'migrate', STUCK, '--to', 'lab1', '--technique', 'precopy', '--json', '--config', configFile],
      { stdio: 'ignore' },
    );
    children.push(migrate);
    const started = await waitForJournal(journalFile, 'migrate to start the job', (es) => es.some((e) => e.type === 'started' && e.vm === STUCK), 60_000);
    const startEntry = started.find((e) => e.type === 'started') as Extract<JournalEntry, { type: 'started' }>;
    const startedAtMs = startEntry.atMs;
    // The deadline is the configured slack plus the move's predicted time (none when predicted not to converge).
    const journaledDeadline = startEntry.deadlineSeconds!;
    expect(journaledDeadline).toBeGreaterThanOrEqual(deadlineSeconds);
    await sleep(3000);
    migrate.kill('SIGKILL');
    await exited(migrate);
    const before = await lab.heartbeat(STUCK);
    expect((await run('virsh', ['-c', lab.host('lab2').uri, 'domjobinfo', STUCK])).stdout).toMatch(/Operation:\s+Outgoing migration/);

    // run --once adopts the job, and waits for it like for its own.
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--once', '--config', configFile], { timeoutMs: 180_000 });
    const entries = (await readJournal(journalFile)).filter((e) => 'vm' in e && e.vm === STUCK);
    expect(entries.filter((e) => e.type === 'started')).toHaveLength(1);
    const abort = entries.find((e) => e.type === 'adapted' && e.action === 'abort') as Extract<JournalEntry, { type: 'adapted' }>;
    expect(abort?.detail).toContain(`deadline of ${journaledDeadline} s`);
    // On time: not before the deadline counted from the original start, and not long after it.
    expect(abort.atMs - startedAtMs).toBeGreaterThanOrEqual(journaledDeadline * 1000);
    expect(abort.atMs - startedAtMs).toBeLessThan((journaledDeadline + 15) * 1000);
    expect(entries.find((e) => e.type === 'outcome')).toMatchObject({ outcome: 'aborted', from: 'lab2', to: 'lab1', adoptedAfterRestart: true });
    expect(await lab.whereIs(STUCK)).toBe('lab2');
    expect((await lab.waitForHeartbeat(STUCK, { afterSeq: before.seq + 3, timeoutMs: 30_000 })).status).toBe('OK');
  });
});
