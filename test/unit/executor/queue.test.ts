/**
 * The executor's queue (policy/scheduling.ts MoveQueue): moves over a budget wait and start the
 * moment a running one ends, with no second submit (no waves), and whenIdle waits for them all.
 * The hosts are not connected, so each move ends at once (failed, not started) and frees its slot.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { Executor } from '../../../src/executor/executor.js';
import { Journal, readJournal } from '../../../src/history/journal.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { host, state, vm } from '../policy/fixtures.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-queue-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const s = state(
  [host('a'), host('b'), host('c')],
  ['v1', 'v2', 'v3', 'v4'].map((n) => vm(n, 'a', 0.1)),
);
const move = (n: string, to: string, seconds: number, mustMove = false): Move => ({
  vmName: n,
  vmUuid: s.vms.find((v) => v.name === n)!.uuid,
  from: 'a',
  to,
  technique: 'precopy',
  copyStorage: false,
  predicted: { totalSeconds: seconds, downtimeMs: 1, bytes: 1, converges: true },
  reason: 'test',
  gain: 1,
  mustMove,
  inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
});
const config = parseConfig({
  hosts: [
    { name: 'a', uri: 'qemu+tcp://127.0.0.1:1/system' },
    { name: 'b', uri: 'qemu+tcp://127.0.0.1:2/system' },
    { name: 'c', uri: 'qemu+tcp://127.0.0.1:3/system' },
  ],
});

describe('executor queue', () => {
  it('starts each queued move when a slot frees, in priority order, without another submit', async () => {
    const journal = new Journal(dir);
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const queuedGauge = async () => (await metrics.migrationsQueued.get()).values[0]?.value;
    const executor = new Executor(config, { connections: { get: () => undefined, hostConfig: () => undefined }, logger: silentLogger(), journal, metrics });
    const { admitted, rejected } = executor.submit([move('v1', 'b', 30), move('v2', 'c', 5), move('v3', 'b', 60, true), move('v4', 'c', 1)], s);
    // One leaves a at a time (migration.maxPerSourceHost 1): the must-move first, the rest by predicted time.
    expect(admitted.map((m) => m.vmName)).toEqual(['v3']);
    expect(rejected.map((r) => [r.move.vmName, r.waits])).toEqual([
      ['v4', true],
      ['v2', true],
      ['v1', true],
    ]);
    expect(executor.queued().map((m) => m.vmName)).toEqual(['v4', 'v2', 'v1']);
    expect(await queuedGauge()).toBe(3);
    await executor.whenIdle();
    expect(await queuedGauge()).toBe(0);
    expect(executor.finished().map((r) => r.vm)).toEqual(['v3', 'v4', 'v2', 'v1']);
    expect(executor.queued()).toEqual([]);
    const started = (await readJournal(journal.file)).filter((e) => e.type === 'started').map((e) => ('vm' in e ? e.vm : ''));
    expect(started).toEqual(['v3', 'v4', 'v2', 'v1']);
    await journal.close();
  });

  it('a newer submit replaces the queue (the newer plan wins)', async () => {
    const journal = new Journal(dir);
    const executor = new Executor(config, { connections: { get: () => undefined, hostConfig: () => undefined }, logger: silentLogger(), journal });
    executor.submit([move('v1', 'b', 1), move('v2', 'c', 1)], s);
    expect(executor.queued().map((m) => m.vmName)).toEqual(['v2']);
    executor.submit([move('v3', 'c', 1), move('v4', 'c', 1)], s);
    expect(executor.queued().map((m) => m.vmName)).toEqual(['v3', 'v4']);
    await executor.whenIdle();
    expect(executor.finished().map((r) => r.vm)).toEqual(['v1', 'v3', 'v4']);
    await journal.close();
  });

  it('clearQueue (a controller that lost its leadership) keeps queued moves from starting', async () => {
    const journal = new Journal(dir);
    const executor = new Executor(config, { connections: { get: () => undefined, hostConfig: () => undefined }, logger: silentLogger(), journal });
    executor.submit([move('v1', 'b', 1), move('v2', 'c', 1), move('v3', 'b', 1)], s);
    executor.clearQueue();
    await executor.whenIdle();
    expect(executor.finished().map((r) => r.vm)).toEqual(['v1']);
    await journal.close();
  });
});
