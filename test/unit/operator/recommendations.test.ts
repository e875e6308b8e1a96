/** Automation levels: which moves wait, the recommendation store, and the staleness check at approval. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { whatChanged } from '../../../src/executor/approval.js';
import { RecommendationStore, splitByAutomation } from '../../../src/executor/recommendations.js';
import { plan } from '../../../src/policy/engine.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;

function move(name: string, from: string, to: string, mustMove = false): Move {
  const v = vm(name, from, 0.5);
  return {
    vmName: name,
    vmUuid: v.uuid,
    from,
    to,
    technique: 'precopy',
    copyStorage: false,
    predicted: { totalSeconds: 2, downtimeMs: 50, bytes: GiB, converges: true },
    reason: 'test',
    gain: 0.1,
    mustMove,
    inputs: { memoryBytes: GiB, dirtyRateMiBps: 0, bandwidthMiBps: 1000, downtimeBudgetMs: 300 },
  };
}

describe('automation levels', () => {
  it('the default is full (every planned move runs, as before automation levels)', () => {
    expect(policySchema.parse({}).automation).toBe('full');
    expect(() => policySchema.parse({ automation: 'semi' })).toThrow(/manual|partial|full/);
  });

  it('full runs all, manual none, partial only must-moves', () => {
    const moves = [move('v1', 'a', 'b', true), move('v2', 'a', 'c')];
    expect(splitByAutomation(moves, 'full')).toEqual({ run: moves, wait: [] });
    expect(splitByAutomation(moves, 'manual')).toEqual({ run: [], wait: moves });
    expect(splitByAutomation(moves, 'partial')).toEqual({ run: [moves[0]], wait: [moves[1]] });
  });

  it('the plan marks maintenance drains and rule repairs as must-moves and balancing moves not', async () => {
    const config = policySchema.parse({ affinityGroups: [{ name: 'apart', type: 'anti-affinity', vms: ['x1', 'x2'] }], maxMovesPerTick: 10 });
    const vms = [vm('m1', 'a', 0.1), vm('x1', 'b', 0.1), vm('x2', 'b', 0.1), ...[1, 2, 3, 4, 5, 6, 7].map((i) => vm(`hot${i}`, 'c', 0.9, { vcpus: 1 }))];
    const p = await plan(state([host('a', { maintenance: true }), host('b'), host('c'), host('d')], vms), { config });
    const kinds = Object.fromEntries(p.moves.map((m) => [m.vmName, m.mustMove]));
    expect(kinds.m1).toBe(true);
    expect(kinds.x1 ?? kinds.x2).toBe(true);
    const balancing = p.moves.filter((m) => m.vmName.startsWith('hot'));
    expect(balancing.length).toBeGreaterThan(0);
    for (const m of balancing) expect(m.mustMove).toBe(false);
  });
});

describe('RecommendationStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vb-rec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records moves with ids, keeps one id for a move planned again, expires them after the configured time', async () => {
    const store = new RecommendationStore(dir);
    const first = await store.record([move('v1', 'a', 'b'), move('v2', 'a', 'c', true)], { nowMs: 1000, expirySeconds: 60 });
    expect(first.created.map((r) => [r.move.vmName, r.kind, r.expiresAtMs])).toEqual([
      ['v1', 'balancing', 61_000],
      ['v2', 'must-move', 61_000],
    ]);
    expect(first.created[0].id).toMatch(/^r[0-9a-f]{8}$/);
    const again = await store.record([move('v1', 'a', 'b')], { nowMs: 30_000, expirySeconds: 60 });
    expect(again.created).toEqual([]);
    expect((await store.waiting(30_000)).map((r) => r.id)).toEqual(first.created.map((r) => r.id));
    // Past expiry: read as expired at once, recorded as such by the next tick.
    expect((await store.waiting(61_000)).length).toBe(0);
    const later = await store.record([], { nowMs: 62_000, expirySeconds: 60 });
    expect(later.expired.map((r) => r.id).sort()).toEqual(first.created.map((r) => r.id).sort());
    expect((await store.list(62_000)).map((r) => [r.status, r.resolution?.status])).toEqual([
      ['expired', 'expired'],
      ['expired', 'expired'],
    ]);
    // Recorded once: the tick after does not expire them again.
    expect((await store.record([], { nowMs: 63_000, expirySeconds: 60 })).expired).toEqual([]);
  });

  it('a new target for the same VM supersedes the waiting recommendation', async () => {
    const store = new RecommendationStore(dir);
    const { created } = await store.record([move('v1', 'a', 'b')], { nowMs: 0, expirySeconds: 600 });
    const next = await store.record([move('v1', 'a', 'c')], { nowMs: 1000, expirySeconds: 600 });
    expect(next.superseded.map((r) => r.id)).toEqual([created[0].id]);
    const all = await store.list(2000);
    expect(all.map((r) => [r.move.to, r.status])).toEqual([
      ['b', 'superseded'],
      ['c', 'waiting'],
    ]);
  });

  it('compaction keeps waiting ones and those ended within the kept time, with their status, and only above the size limit', async () => {
    const store = new RecommendationStore(dir);
    const day = 24 * 3600 * 1000;
    const { created } = await store.record([move('v1', 'a', 'b'), move('v2', 'a', 'b'), move('v3', 'a', 'b')], { nowMs: 0, expirySeconds: 30 * 24 * 3600 });
    await store.resolve(created[0].id, { status: 'executed', atMs: 1000, by: 'alice', detail: 'completed' });
    await store.resolve(created[1].id, { status: 'refused', atMs: 9 * day, by: 'bob', detail: 'stale: x' });
    expect(await store.compactIfLarge(10 * day)).toBe(false);
    expect(await store.compactIfLarge(10 * day, { compactAboveBytes: 0, keepEndedMs: 7 * day })).toBe(true);
    const after = await store.list(10 * day);
    expect(after.map((r) => [r.move.vmName, r.status, r.resolution?.by])).toEqual([
      ['v2', 'refused', 'bob'],
      ['v3', 'waiting', undefined],
    ]);
    expect(after[1].id).toBe(created[2].id);
    expect((await readFile(store.file, 'utf8')).trim().split('\n')).toHaveLength(3);
  });

  it('the first resolution on disk wins (an approval after an expiry does not revive it)', async () => {
    const store = new RecommendationStore(dir);
    const { created } = await store.record([move('v1', 'a', 'b')], { nowMs: 0, expirySeconds: 600 });
    await store.resolve(created[0].id, { status: 'refused', atMs: 10, by: 'alice', detail: 'stale: x' });
    await store.resolve(created[0].id, { status: 'executed', atMs: 20, by: 'bob', detail: 'completed' });
    const [r] = await store.list(30);
    expect([r.status, r.resolution?.by, r.resolution?.detail]).toEqual(['refused', 'alice', 'stale: x']);
  });
});

describe('whatChanged (approval re-check)', () => {
  const rec = (m: Move) => ({
    id: 'r00000001',
    createdAtMs: 0,
    expiresAtMs: 1e12,
    move: m,
    kind: m.mustMove ? ('must-move' as const) : ('balancing' as const),
  });

  it('nothing when the VM is where it was, the target still accepts it and the move still pays', async () => {
    // a at 90 % CPU, b idle: moving v1 (2 vCPUs at 90 %) relieves the hot spot.
    const s = state([host('a'), host('b')], [vm('v1', 'a', 0.9, { vcpus: 2 }), vm('x1', 'a', 0.9), vm('x2', 'a', 0.9)]);
    expect(await whatChanged(rec(move('v1', 'a', 'b')), s)).toEqual([]);
  });

  it('a balancing move refused when the load changed so it no longer pays; a must-move is not judged on gain', async () => {
    // The hot spot is gone: a and b both light, moving v1 only swaps their loads. Its cost: 1 GiB
    // sent off a's 16 GiB, squared, x moveCostWeight 3 (src/policy/move-cost.ts).
    const calm = state([host('a'), host('b')], [vm('v1', 'a', 0.5)]);
    const [change] = await whatChanged(rec(move('v1', 'a', 'b')), calm);
    expect(change).toBe(
      'the move no longer pays: it would reduce the objective by 0.0000, not more than its cost 0.0117 (it was 0.1000 when recommended; the load changed)',
    );
    expect(await whatChanged(rec(move('v1', 'a', 'b', true)), calm)).toEqual([]);
  });

  it('says the VM moved, stopped, or the target went into maintenance or down', async () => {
    const m = move('v1', 'a', 'b');
    expect(await whatChanged(rec(m), state([host('a'), host('b'), host('c')], [vm('v1', 'c', 0.5)]))).toEqual(['VM v1 is now on c, not a']);
    expect(await whatChanged(rec(m), state([host('a'), host('b')], [vm('v1', 'a', 0.5, { state: 'shutoff' })]))).toEqual([
      'VM v1 is shutoff now (it was planned to move live with precopy)',
    ]);
    expect(await whatChanged(rec(m), state([host('a'), host('b', { maintenance: true })], [vm('v1', 'a', 0.5)]))).toEqual([
      'target refused now: b is in maintenance',
    ]);
    expect(await whatChanged(rec(m), state([host('a'), host('b', { up: false, downReason: 'connection refused' })], [vm('v1', 'a', 0.5)]))).toEqual([
      'target refused now: b is down (connection refused)',
    ]);
    expect(await whatChanged(rec(m), state([host('a'), host('b')], []))).toEqual(['VM v1 is no longer found on any reachable host']);
  });

  it('says the target filled up, and a soft filter does not refuse a must-move', async () => {
    const full = state([host('a'), host('b', { memoryTotalBytes: 2 * GiB })], [vm('v1', 'a', 0.5), vm('big', 'b', 0.1, { memoryBytes: 1.5 * GiB })]);
    expect(await whatChanged(rec(move('v1', 'a', 'b')), full)).toEqual(['target refused now: b lacks memory (512 MiB free, v1 needs 1024 MiB)']);
    // b at 95 % CPU: the balance policy's threshold refuses a balancing move, not a maintenance drain.
    const hot = state([host('a'), host('b')], [vm('v1', 'a', 0.5), vm('busy', 'b', 0.95, { vcpus: 4 })]);
    expect((await whatChanged(rec(move('v1', 'a', 'b')), hot))[0]).toMatch(/^target refused now: balance: b would reach CPU/);
    expect(await whatChanged(rec(move('v1', 'a', 'b', true)), hot)).toEqual([]);
  });
});
