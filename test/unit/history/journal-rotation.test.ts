/**
 * Issue 27 R9: the journal was never rotated and was read whole at start (227 MB: 11 s, 850 MiB).
 * It is now rotated past a size bound, carrying over the entries planning needs, and start-up
 * reads only those (planning-set.ts). What planning learns from the planning set is what it learns
 * from the whole journal: cooldowns, recent moves and failures, link bandwidths, calibration,
 * unfinished starts and power states.
 * (Start time and memory on a big journal are measured by bench/journal-startup.ts, not here.)
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DecisionHistory } from '../../../src/history/decision-history.js';
import { Journal, readJournal, readJournalHistory, unfinishedStarts, type JournalEntry, type PowerJournalEntry } from '../../../src/history/journal.js';
import { planningSet } from '../../../src/history/planning-set.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import { PowerStates } from '../../../src/power/states.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-rotate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const HOSTS = ['a', 'b', 'c', 'd'];
const TECHNIQUES = ['precopy', 'postcopy', 'precopy-compressed'];

const entryArb: fc.Arbitrary<JournalEntry> = fc
  .oneof(
    fc.record({
      kind: fc.constant('outcome' as const),
      vm: fc.integer({ min: 0, max: 30 }),
      from: fc.constantFrom(...HOSTS),
      to: fc.constantFrom(...HOSTS),
      technique: fc.constantFrom(...TECHNIQUES),
      outcome: fc.constantFrom('completed', 'completed', 'completed', 'failed', 'aborted'),
      totalMs: fc.integer({ min: 100, max: 100_000 }),
      bytes: fc.integer({ min: 1, max: 2 ** 34 }),
      tls: fc.boolean(),
      adopted: fc.boolean(),
      predictedSeconds: fc.integer({ min: 1, max: 100 }),
    }),
    fc.record({ kind: fc.constant('started' as const), vm: fc.integer({ min: 0, max: 30 }), from: fc.constantFrom(...HOSTS), to: fc.constantFrom(...HOSTS) }),
    fc.record({
      kind: fc.constant('power' as const),
      host: fc.constantFrom(...HOSTS),
      action: fc.constantFrom('power-off' as const, 'power-on' as const),
      event: fc.constantFrom('recommended' as const, 'requested' as const, 'ran' as const, 'done' as const, 'failed' as const),
      capacity: fc.option(fc.record({ cpuCount: fc.integer({ min: 1, max: 64 }), memoryTotalBytes: fc.integer({ min: 1, max: 2 ** 40 }) }), { nil: undefined }),
      dryRun: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('planned' as const), vm: fc.integer({ min: 0, max: 30 }) }),
  )
  .map((r): JournalEntry => {
    const vm = 'vm' in r ? { vm: `vm${r.vm}`, vmUuid: `uuid-${r.vm}` } : { vm: '', vmUuid: '' };
    switch (r.kind) {
      case 'outcome':
        return {
          type: 'outcome',
          atMs: 0,
          ...vm,
          from: r.from,
          to: r.to,
          technique: r.technique,
          outcome: r.outcome,
          totalMs: r.totalMs,
          bytes: r.bytes,
          tls: r.tls,
          adoptedAfterRestart: r.adopted,
          downtimeMs: 50,
          predicted: { technique: r.technique, totalSeconds: r.predictedSeconds, downtimeMs: 40, bytes: r.bytes, iterations: 2, converges: true } as never,
        };
      case 'started':
        return { type: 'started', atMs: 0, ...vm, from: r.from, to: r.to, technique: 'precopy' };
      case 'power':
        return {
          type: 'power',
          atMs: 0,
          host: r.host,
          action: r.action,
          event: r.event,
          method: 'command',
          capacity: r.capacity,
          dryRun: r.dryRun,
        } as PowerJournalEntry;
      default:
        return { type: 'planned', atMs: 0, ...vm, from: 'a', to: 'b', technique: 'precopy', reason: 'x', predicted: {}, dryRun: false };
    }
  });

/** A journal: entries with increasing times. */
const journalArb = fc.array(entryArb, { minLength: 1200, maxLength: 2500 }).map((es) => es.map((e, i) => ({ ...e, atMs: 1_000 + i * 10 }) as JournalEntry));

/** Everything planning derives from journal entries. */
function derived(entries: readonly JournalEntry[]) {
  const history = new DecisionHistory(entries);
  const power = new PowerStates(entries);
  const calibration: unknown[] = [];
  for (const from of HOSTS)
    for (const to of HOSTS) for (const technique of TECHNIQUES) calibration.push(history.learned.calibration.factors(from, to, technique as never));
  return {
    state: history.forState(),
    links: history.learned.links.links(),
    tlsLinks: history.learned.tlsLinks.links(),
    calibration,
    // By VM: the order of the map is not planning's (a VM started twice keeps its first place there).
    unfinished: [...unfinishedStarts(entries)].sort(([a], [b]) => a.localeCompare(b)),
    power: HOSTS.map((h) => power.of(h)),
  };
}

describe('the planning set', () => {
  it('gives planning exactly what the whole journal gives it', () => {
    fc.assert(
      fc.property(journalArb, (entries) => {
        expect(derived(planningSet(entries))).toEqual(derived(entries));
      }),
      { numRuns: 25 },
    );
  });

  it('of a long journal is bounded by its windows, not by the journal', () => {
    const entries: JournalEntry[] = [];
    for (let i = 0; i < 50_000; i++)
      entries.push({
        type: 'outcome',
        atMs: i,
        vm: `vm${i % 40}`,
        vmUuid: `u${i % 40}`,
        from: HOSTS[i % 4],
        to: HOSTS[(i + 1) % 4],
        technique: 'precopy',
        outcome: i % 7 ? 'completed' : 'failed',
      });
    expect(planningSet(entries).length).toBeLessThanOrEqual(1100);
  });
});

describe('journal rotation', () => {
  const planned = (i: number): JournalEntry => ({
    type: 'planned',
    atMs: i,
    vm: `vm${i % 50}`,
    vmUuid: `u${i % 50}`,
    from: 'a',
    to: 'b',
    technique: 'precopy',
    reason: 'x'.repeat(200),
    predicted: {},
    dryRun: false,
  });
  const done = (i: number): JournalEntry => ({
    type: 'outcome',
    atMs: i,
    vm: `vm${i % 50}`,
    vmUuid: `u${i % 50}`,
    from: 'a',
    to: 'b',
    technique: 'precopy',
    outcome: 'completed',
    totalMs: 1000,
    bytes: 2 ** 30,
  });

  it('keeps journal.jsonl under its bound and carries over what planning needs; the old file stays as journal.1.jsonl', async () => {
    const maxBytes = 192 * 1024;
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const journal = new Journal(dir, { maxBytes, metrics });
    const all: JournalEntry[] = [];
    const add = async (e: JournalEntry) => {
      all.push(e);
      await journal.append(e);
    };
    await add({
      type: 'power',
      atMs: 1,
      host: 'c',
      action: 'power-off',
      event: 'done',
      method: 'command',
      capacity: { cpuCount: 8, memoryTotalBytes: 2 ** 34 },
    });
    await add({ type: 'started', atMs: 2, vm: 'stuck', vmUuid: 'u-stuck', from: 'a', to: 'b', technique: 'precopy' });
    for (let i = 10; i < 2400; i++) {
      await add(planned(i));
      if (i % 5 === 0) await add(done(i));
      expect(statSync(journal.file).size).toBeLessThanOrEqual(maxBytes + 2048);
    }
    expect((await metrics.journalRotationsTotal.get()).values[0].value).toBeGreaterThanOrEqual(2);
    expect(existsSync(journal.archiveFile)).toBe(true);
    const forPlanning = await journal.readForPlanning();
    expect(derived(forPlanning)).toEqual(derived(all));
    expect(new PowerStates(forPlanning).of('c').state).toBe('standby');
    expect([...unfinishedStarts(forPlanning).keys()]).toEqual(['u-stuck']);
    // Whole lines only: every line of both files is an entry.
    const warnings: string[] = [];
    await readJournal(journal.file, { warn: (m) => warnings.push(m) });
    await readJournal(journal.archiveFile, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    await journal.close();
  });

  it('history reads across the last rotation: journal.1.jsonl then journal.jsonl, every entry once, in order', async () => {
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const journal = new Journal(dir, { maxBytes: 48 * 1024, metrics });
    const all: JournalEntry[] = [];
    const rotations = async () => (await metrics.journalRotationsTotal.get()).values[0]?.value ?? 0;
    for (let i = 0; (await rotations()) === 0; i++) {
      const e = i % 5 === 0 ? done(i) : planned(i);
      all.push(e);
      await journal.append(e);
    }
    for (let i = 10_000; i < 10_020; i++) {
      all.push(planned(i));
      await journal.append(planned(i));
    }
    expect(await rotations()).toBe(1);
    // journal.jsonl alone starts again with the planning set: the planned entries before the rotation are in the archive only.
    expect((await readJournal(journal.file)).length).toBeLessThan(all.length / 2);
    expect(await journal.read()).toEqual(all);
    expect(await readJournalHistory(journal.file)).toEqual(all);
    await journal.close();
  });

  it('a restarted journal rotates a file that grew past its bound before it (an old, unrotated journal)', async () => {
    const first = new Journal(dir, { maxBytes: 10 * 2 ** 20 });
    for (let i = 0; i < 600; i++) await first.append(planned(i));
    await first.append(done(601));
    await first.close();
    const bigBefore = statSync(first.file).size;
    const second = new Journal(dir, { maxBytes: 16 * 1024 });
    await second.append(done(602));
    expect(statSync(second.file).size).toBeLessThan(bigBefore / 10);
    expect((await second.readForPlanning()).filter((e) => e.type === 'outcome')).toHaveLength(2);
    await second.close();
  });
});
