/**
 * Issue 27 R2: a short write is an error. On a full disk a `started` entry was reported written
 * with 26 of its 453 bytes on disk; now the partial bytes are removed, the write is retried and
 * counted, and no migration starts until the entry is whole on disk.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { Executor } from '../../../src/executor/executor.js';
import { DurableAppender } from '../../../src/history/durable-append.js';
import { createJournalFs, Journal, JournalError, readJournal, type JournalEntry } from '../../../src/history/journal.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { faultyFs } from './faulty-fs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-short-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const started: JournalEntry = {
  type: 'started',
  atMs: 1,
  vm: 'web1',
  vmUuid: '11111111-2222-3333-4444-555555555555',
  from: 'a',
  to: 'b',
  technique: 'precopy',
  deadlineSeconds: 600,
};
const outcome = (vmUuid: string): JournalEntry => ({
  type: 'outcome',
  atMs: 2,
  vm: vmUuid,
  vmUuid,
  from: 'a',
  to: 'b',
  technique: 'precopy',
  outcome: 'completed',
});
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

describe('journal: a short write is an error', () => {
  it('a started entry of which only 26 bytes fit is not reported written: retried, counted, and no partial bytes stay on disk', async () => {
    const fs = faultyFs();
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const journal = new Journal(dir, {
      fs: createJournalFs(new DurableAppender(fs.open)),
      metrics,
      logger: silentLogger(),
      retryDelaysMs: [1, 1],
      backgroundRetryMs: 60_000,
    });
    await journal.append(outcome('before'));
    const whole = readFileSync(journal.file, 'utf8');
    fs.quotaBytes = 26;
    await expect(journal.appendDurably(started)).rejects.toThrow(JournalError);
    await expect(journal.appendDurably(started)).rejects.toThrow(/short write|ENOSPC/);
    // The first attempt wrote 26 bytes and was told so; they were removed, the line retried.
    expect(fs.writes.some((w) => w.written === 26 && w.asked > 26)).toBe(true);
    expect(readFileSync(journal.file, 'utf8')).toBe(whole);
    expect((await metrics.journalShortWritesTotal.get()).values[0].value).toBeGreaterThanOrEqual(1);
    expect((await metrics.journalWriteFailuresTotal.get()).values[0].value).toBeGreaterThanOrEqual(3);
    expect(journal.writable).toBe(false);
    // Space again: the entry goes down whole, and the reader sees no torn line.
    fs.quotaBytes = Number.POSITIVE_INFINITY;
    await journal.appendDurably(started);
    const warnings: string[] = [];
    expect((await readJournal(journal.file, { warn: (m) => warnings.push(m) })).map((e) => e.type)).toEqual(['outcome', 'started']);
    expect(warnings).toEqual([]);
    expect(journal.writable).toBe(true);
  });

  it('a write that stops halfway many times over (one byte at a time) still never resolves short', async () => {
    const fs = faultyFs();
    const appender = new DurableAppender(fs.open);
    const file = join(dir, 'j.jsonl');
    for (let quota = 1; quota < 40; quota += 7) {
      fs.quotaBytes = quota;
      await expect(appender.append(file, `${JSON.stringify(started)}\n`)).rejects.toThrow(/short write .* of \d+ bytes/);
      expect(readFileSync(file, 'utf8')).toBe('');
    }
    await appender.forget(file);
  });

  it('the executor starts no migration whose started entry went to disk short', async () => {
    const fs = faultyFs(26);
    const journal = new Journal(dir, {
      fs: createJournalFs(new DurableAppender(fs.open)),
      logger: silentLogger(),
      retryDelaysMs: [1],
      backgroundRetryMs: 60_000,
    });
    const calls: string[] = [];
    const connections = { get: (host: string) => (calls.push(`connection ${host}`), undefined), hostConfig: () => undefined };
    const executor = new Executor(config, { connections, logger: silentLogger(), journal } as never);
    await expect(executor.runNow(move)).rejects.toThrow(/the migration of web1 did not start: cannot write the journal .*(short write|ENOSPC)/);
    expect(calls).toEqual([]);
    expect(readFileSync(journal.file, 'utf8')).toBe('');
  });

  it('keeps writing with no descriptor to spare (EMFILE): the journal file stays open between writes', async () => {
    const fs = faultyFs();
    const journal = new Journal(dir, {
      fs: createJournalFs(new DurableAppender(fs.open)),
      logger: silentLogger(),
      retryDelaysMs: [],
      backgroundRetryMs: 60_000,
    });
    await journal.append(outcome('1'));
    fs.emfile = true;
    for (let i = 2; i <= 5; i++) await journal.appendDurably(outcome(String(i)));
    expect(journal.writable).toBe(true);
    expect(fs.opens).toBe(1);
    expect((await readJournal(journal.file)).map((e) => ('vmUuid' in e ? e.vmUuid : ''))).toEqual(['1', '2', '3', '4', '5']);
    await journal.close();
  });
});
