/**
 * The journal on a bad day: a full filesystem (a journal file linked to /dev/full, whose writes
 * fail with ENOSPC), a torn last line, lines that are not entries, an unwritable state directory.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { Controller } from '../../../src/controller/controller.js';
import { Executor } from '../../../src/executor/executor.js';
import { Journal, JournalError, moveHistory, readJournal, type JournalEntry } from '../../../src/history/journal.js';
import { createLogger, silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import type { Move } from '../../../src/policy/plan-types.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const outcome = (vmUuid: string, atMs: number): JournalEntry => ({
  type: 'outcome',
  atMs,
  vm: `vm-${vmUuid}`,
  vmUuid,
  from: 'a',
  to: 'b',
  technique: 'precopy',
  outcome: 'completed',
});
const lines = (file: string) => readFileSync(file, 'utf8').split('\n');
/** The journal's file made to fail every write with ENOSPC, as on a full filesystem. */
const fillDisk = (file: string) => symlinkSync('/dev/full', file);
const freeDisk = (file: string) => unlinkSync(file);

const move: Move = {
  vmName: 'web1',
  vmUuid: '11111111-2222-3333-4444-555555555555',
  from: 'a',
  to: 'b',
  technique: 'precopy',
  copyStorage: false,
  predicted: { technique: 'precopy', totalSeconds: 1, downtimeMs: 10, bytes: 1, iterations: 1, converges: true } as Move['predicted'],
  reason: 'test',
  gain: 1,
  inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 100, bandwidthMeasured: false, downtimeBudgetMs: 300 },
};
const config = parseConfig({
  hosts: [
    { name: 'a', uri: 'qemu+tcp://127.0.0.1:1/system' },
    { name: 'b', uri: 'qemu+tcp://127.0.0.1:2/system' },
  ],
});

describe('journal: a torn last line and lines that are not entries', () => {
  it('never glues the next entry onto a torn last line; the torn line is skipped with its file and line number', async () => {
    const journal = new Journal(dir);
    writeFileSync(journal.file, JSON.stringify(outcome('1', 1)) + '\n' + '{"type":"outcome","atMs":2,"vm":"vm-2","vmU');
    await journal.append(outcome('3', 3));
    const warnings: string[] = [];
    const entries = await readJournal(journal.file, { warn: (m) => warnings.push(m) });
    expect(entries.map((e) => ('vmUuid' in e ? e.vmUuid : e.host))).toEqual(['1', '3']);
    expect(moveHistory(entries).lastMovedAtMs).toEqual({ '1': 1, '3': 3 });
    expect(warnings).toEqual([`${journal.file}:2: skipped an unreadable journal line ({"type":"outcome","atMs":2,"vm":"vm-2","vmU)`]);
  });

  it('skips null, arrays, strings and objects that are not entries, naming each line; readers never crash', async () => {
    const file = join(dir, 'journal.jsonl');
    writeFileSync(file, ['null', '[1,2]', '"text"', '{"type":"outcome"}', JSON.stringify(outcome('1', 5)), '42'].join('\n') + '\n');
    const warnings: string[] = [];
    const entries = await readJournal(file, { warn: (m) => warnings.push(m) });
    expect(entries).toEqual([outcome('1', 5)]);
    expect(warnings.map((w) => w.split(': ')[0])).toEqual([`${file}:1`, `${file}:2`, `${file}:3`, `${file}:4`, `${file}:6`]);
    expect(moveHistory(entries).lastMovedAtMs).toEqual({ '1': 5 });
  });
});

describe('journal: writes', () => {
  it('creates the file 0600', async () => {
    const journal = new Journal(join(dir, 'state'));
    await journal.append(outcome('1', 1));
    expect(statSync(journal.file).mode & 0o777).toBe(0o600);
  });

  it('on a full filesystem: does not reject, retries, counts and logs each failure, and writes every entry in order once there is space', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const logger = silentLogger();
    const warn = vi.spyOn(logger, 'warn');
    const journal = new Journal(dir, { metrics, logger, retryDelaysMs: [1, 1], backgroundRetryMs: 60_000 });
    fillDisk(journal.file);
    await expect(journal.append(outcome('1', 1))).resolves.toBeUndefined();
    expect(journal.writable).toBe(false);
    expect(journal.lastError?.message).toMatch(/ENOSPC/);
    // Three attempts (the first and two retries), each counted and logged.
    expect((await metrics.journalWriteFailuresTotal.get()).values[0].value).toBe(3);
    expect((await metrics.journalWritable.get()).values[0].value).toBe(0);
    expect(warn).toHaveBeenCalledTimes(3);
    // Still full: one more attempt, no new retries.
    await journal.append(outcome('2', 2));
    expect((await metrics.journalWriteFailuresTotal.get()).values[0].value).toBe(4);
    freeDisk(journal.file);
    await journal.append(outcome('3', 3));
    expect(journal.writable).toBe(true);
    expect((await metrics.journalWritable.get()).values[0].value).toBe(1);
    expect((await journal.read()).map((e) => ('vmUuid' in e ? e.vmUuid : e.host))).toEqual(['1', '2', '3']);
    expect(lines(journal.file)).toHaveLength(4);
  });

  it('stays writable while an entry waits behind a write in progress (the executor admits moves right after journaling the plan)', async () => {
    const journal = new Journal(dir);
    const writing = journal.append(outcome('1', 1));
    expect(journal.writable).toBe(true);
    await writing;
    expect(journal.writable).toBe(true);
  });

  it('close waits for the write under way: a command that journals and exits loses nothing and reports no loss', async () => {
    const errors: unknown[] = [];
    const logger = createLogger({ level: 'silent' });
    logger.error = ((...args: unknown[]) => errors.push(args)) as typeof logger.error;
    const journal = new Journal(dir, { logger });
    void journal.append(outcome('1', 1));
    void journal.append(outcome('2', 2));
    await journal.close();
    expect(errors).toEqual([]);
    expect((await readJournal(journal.file)).map((e) => ('vmUuid' in e ? e.vmUuid : ''))).toEqual(['1', '2']);
  });

  it('writes what it could not in the background once there is space', async () => {
    const journal = new Journal(dir, { retryDelaysMs: [], backgroundRetryMs: 20 });
    fillDisk(journal.file);
    await journal.append(outcome('1', 1));
    expect(journal.writable).toBe(false);
    freeDisk(journal.file);
    await vi.waitFor(() => expect(journal.writable).toBe(true), { timeout: 2000, interval: 10 });
    expect((await journal.read()).map((e) => ('vmUuid' in e ? e.vmUuid : e.host))).toEqual(['1']);
    await journal.close();
  });

  it('keeps at most maxUnwritten entries in memory while it cannot write, dropping the oldest', async () => {
    const journal = new Journal(dir, { retryDelaysMs: [], backgroundRetryMs: 60_000, maxUnwritten: 3 });
    fillDisk(journal.file);
    for (let i = 1; i <= 5; i++) await journal.append(outcome(String(i), i));
    freeDisk(journal.file);
    await journal.append(outcome('6', 6));
    expect((await journal.read()).map((e) => ('vmUuid' in e ? e.vmUuid : e.host))).toEqual(['4', '5', '6']);
  });

  it('checks at start that the state directory can be created and written, naming it', async () => {
    writeFileSync(join(dir, 'plain-file'), '');
    const stateDir = join(dir, 'plain-file', 'state');
    await expect(new Journal(stateDir).checkWritable()).rejects.toThrow(JournalError);
    await expect(new Journal(stateDir).checkWritable()).rejects.toThrow(`cannot write the journal ${stateDir}/journal.jsonl (stateDir ${stateDir}): ENOTDIR`);
    const controller = new Controller({ ...config, stateDir }, { logger: silentLogger() });
    await expect(controller.init()).rejects.toThrow(/cannot write the journal .*stateDir/);
    await expect(new Journal(join(dir, 'fresh')).checkWritable()).resolves.toBeUndefined();
  });
});

describe('executor: no migration starts without its journal entry', () => {
  const connections = (calls: string[]) => ({
    get: (host: string) => (calls.push(`connection ${host}`), undefined),
    hostConfig: () => undefined,
  });

  it('admits nothing while the journal cannot be written, and says why', async () => {
    const journal = new Journal(dir, { retryDelaysMs: [], backgroundRetryMs: 60_000 });
    fillDisk(journal.file);
    await journal.append(outcome('1', 1));
    const calls: string[] = [];
    const executor = new Executor(config, { connections: connections(calls), logger: silentLogger(), journal });
    const state = { observedAtMs: Date.now(), hosts: [], vms: [], inFlight: [], lastMovedAtMs: {}, recentMoves: [] } as never;
    const result = executor.submit([move], state);
    expect(result.admitted).toEqual([]);
    expect(result.rejected[0].reason).toMatch(new RegExp(`the journal ${journal.file} cannot be written \\(.*ENOSPC.*\\); no migration starts until it can`));
    expect(calls).toEqual([]);
  });

  it('does not start a migration whose start cannot be written, and does not journal it later', async () => {
    const journal = new Journal(dir, { retryDelaysMs: [1], backgroundRetryMs: 60_000 });
    fillDisk(journal.file);
    const calls: string[] = [];
    const executor = new Executor(config, { connections: connections(calls), logger: silentLogger(), journal });
    await expect(executor.runNow(move)).rejects.toThrow(/the migration of web1 did not start: cannot write the journal .*ENOSPC/);
    expect(calls).toEqual([]);
    expect(executor.inFlight()).toEqual([]);
    freeDisk(journal.file);
    await journal.append(outcome('9', 9));
    expect((await journal.read()).map((e) => e.type)).toEqual(['outcome']);
  });

  it('flushes the start to disk (fsync) before it touches a host', async () => {
    const journal = new Journal(dir);
    const calls: string[] = [];
    const probe = await import('node:fs/promises').then((fs) => fs.open(join(dir, 'probe'), 'w'));
    const FileHandle = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const sync = vi.spyOn(FileHandle, 'sync').mockImplementation(async function (this: unknown) {
      calls.push('fsync');
    });
    try {
      const executor = new Executor(config, { connections: connections(calls), logger: silentLogger(), journal });
      const result = await executor.runNow(move);
      expect(result.error).toMatch(/not connected/);
    } finally {
      sync.mockRestore();
    }
    expect(calls.slice(0, 2)).toEqual(['fsync', 'connection a']);
    expect((await journal.read()).map((e) => e.type)).toEqual(['started', 'outcome']);
  });
});
