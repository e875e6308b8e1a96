/**
 * The migration cost model, priorities and queue (src/policy/scheduling.ts): what the executor and
 * the simulator both admit by.
 */
import { describe, expect, it } from 'vitest';
import { withConfigTags } from '../../../src/cluster/config-tags.js';
import { parseConfig } from '../../../src/config/index.js';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { admit, byPriority, moveCost, MoveQueue, networkBudget, TEN_GBE_MIBPS, vmPriority } from '../../../src/policy/scheduling.js';
import { host, state, vm } from './fixtures.js';

const defaults = migrationSchema.parse({});
const s = state(
  [host('a'), host('b'), host('c'), host('d')],
  ['1', '2', '3', '4', '5', '6'].map((n) => vm(n, 'a', 0.1, n === '6' ? { disksShared: false, localDiskBytes: 2 ** 30 } : {})),
);
const uuid = (n: string) => s.vms.find((v) => v.name === n)!.uuid;
function move(n: string, from: string, to: string, extra: Partial<Move> = {}): Move {
  return {
    vmName: n,
    vmUuid: uuid(n),
    from,
    to,
    technique: 'precopy',
    copyStorage: false,
    predicted: { totalSeconds: 10, downtimeMs: 1, bytes: 1, converges: true },
    reason: '',
    gain: 0.1,
    inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
    ...extra,
  };
}
const names = (moves: readonly Move[]) => moves.map((m) => m.vmName);

describe('cost model', () => {
  it("costs a live move 1 against each host and network and the shared datastore; a storage copy vSphere's 4 against hosts and 16 against each local datastore", () => {
    const live = moveCost({ from: 'a', to: 'b', copyStorage: false, disksShared: true }, defaults);
    expect(live).toEqual({ send: 1, receive: 1, network: 1, datastores: new Map([['shared', 1]]) });
    const copy = moveCost({ from: 'a', to: 'b', copyStorage: true, disksShared: false }, defaults);
    expect(copy).toEqual({
      send: 4,
      receive: 4,
      network: 1,
      datastores: new Map([
        ['local:a', 16],
        ['local:b', 16],
      ]),
    });
  });

  it('sizes a network budget from the measured link as vSphere does (4 below 10 GbE, 8 from it), or from config', () => {
    expect(networkBudget('a', { bandwidthMiBps: 110, measured: true }, defaults)).toBe(4);
    expect(networkBudget('a', { bandwidthMiBps: TEN_GBE_MIBPS, measured: true }, defaults)).toBe(8);
    // Not measured yet: the configured guess says nothing about the NIC.
    expect(networkBudget('a', { bandwidthMiBps: 5000, measured: false }, defaults)).toBe(4);
    expect(networkBudget('a', { bandwidthMiBps: 110, measured: true }, migrationSchema.parse({ networkBudget: 6 }))).toBe(6);
    const perHost = migrationSchema.parse({ networkBudget: 6, hostBudgets: { a: { network: 2 } } });
    expect(networkBudget('a', { bandwidthMiBps: 110, measured: true }, perHost)).toBe(2);
  });

  it('keeps the defaults run applied before: 1 leaving a host, 1 arriving, 2 in the cluster; the rest wait', () => {
    const r = admit([move('1', 'a', 'b'), move('2', 'a', 'c'), move('3', 'b', 'c'), move('4', 'c', 'b'), move('5', 'c', 'd')], [], s, defaults);
    expect(names(r.admitted)).toEqual(['1', '3']);
    expect(r.rejected.map((x) => [x.move.vmName, x.waits])).toEqual([
      ['2', true],
      ['4', true],
      ['5', true],
    ]);
    expect(r.rejected.map((x) => x.reason)).toEqual([
      expect.stringMatching(/source a already sends 1 of its budget 1 \(migration.maxPerSourceHost\)/),
      expect.stringMatching(/2 migrations already running \(migration.maxConcurrent\)/),
      expect.stringMatching(/2 migrations already running/),
    ]);
    // Receiving: one arriving at b at a time.
    const one = admit([move('1', 'a', 'b'), move('3', 'c', 'b')], [], s, defaults);
    expect(one.rejected[0].reason).toMatch(/target b already receives 1 of its budget 1 \(migration.maxPerTargetHost\)/);
  });

  it('per-host budgets from config: a may send 3 at once, c receive 2; the network budget then binds', () => {
    const config = migrationSchema.parse({ maxConcurrent: 10, hostBudgets: { a: { send: 3 }, c: { receive: 2 } } });
    const r = admit([move('1', 'a', 'c'), move('2', 'a', 'c'), move('3', 'a', 'c'), move('4', 'a', 'b')], [], s, config);
    expect(names(r.admitted)).toEqual(['1', '2', '4']);
    expect(r.rejected[0].reason).toMatch(/target c already receives 2 of its budget 2 .*hostBudgets.c.receive/);
    const narrow = { ...config, networkBudget: 2 };
    const n = admit([move('1', 'a', 'c'), move('2', 'a', 'c'), move('4', 'a', 'b')], [], s, narrow);
    expect(names(n.admitted)).toEqual(['1', '2']);
    expect(n.rejected[0].reason).toMatch(/migration network of a carries 2 of its budget 2/);
  });

  it('a storage copy costs more than a whole host budget: it runs alone on its hosts, never refused', () => {
    const config = migrationSchema.parse({ maxConcurrent: 10, maxPerSourceHost: 2 });
    const copy = move('6', 'a', 'b', { copyStorage: true });
    // Beside a running live move from a it waits ...
    const busy = admit([copy], [{ vmUuid: uuid('1'), from: 'a', to: 'c', bandwidthMiBps: 0 }], s, config);
    expect(busy.admitted).toEqual([]);
    expect(busy.rejected[0]).toMatchObject({ waits: true, reason: expect.stringMatching(/this move costs 4/) });
    // ... on an idle host it starts, and nothing else leaves a while it runs.
    const idle = admit([copy, move('2', 'a', 'c')], [], s, config);
    expect(names(idle.admitted)).toEqual(['6']);
    expect(idle.rejected[0]).toMatchObject({ waits: true });
  });

  it('a datastore budget counts storage copies at 16 against each end', () => {
    const config = migrationSchema.parse({ maxConcurrent: 10, maxPerSourceHost: 8, maxPerTargetHost: 8, networkBudget: 8, datastoreBudget: 20 });
    const running = [{ vmUuid: uuid('1'), from: 'c', to: 'b', bandwidthMiBps: 0, copyStorage: true }];
    const r = admit([move('6', 'a', 'b', { copyStorage: true }), move('2', 'a', 'd')], running, s, config);
    expect(r.rejected[0]).toMatchObject({ move: { vmName: '6' }, waits: true, reason: expect.stringMatching(/datastore local:b carries 16 of its budget 20/) });
    expect(names(r.admitted)).toEqual(['2']);
  });

  it('refusals that are not budgets do not wait: a host down, in maintenance, the VM already migrating', () => {
    const down = state([host('a'), host('b', { up: false }), host('c', { maintenance: true })], s.vms);
    const r = admit(
      [move('1', 'a', 'b'), move('2', 'a', 'c'), move('3', 'a', 'd')],
      [{ vmUuid: uuid('3'), from: 'a', to: 'd', bandwidthMiBps: 0 }],
      down,
      defaults,
    );
    expect(r.rejected.map((x) => [x.move.vmName, x.waits])).toEqual([
      ['1', false],
      ['2', false],
      ['3', false],
    ]);
  });
});

describe('priorities', () => {
  it('must-moves first, then higher VM priority (priority:N), then the shorter predicted move', () => {
    const tagged = state(s.hosts, [
      ...s.vms.filter((v) => v.name !== '2' && v.name !== '3'),
      vm('2', 'a', 0.1, { tags: ['priority:5'] }),
      vm('3', 'a', 0.1, { tags: ['priority:-1'] }),
    ]);
    const moves = [
      move('1', 'a', 'b', { predicted: { totalSeconds: 5, downtimeMs: 1, bytes: 1, converges: true } }),
      move('2', 'a', 'b', { predicted: { totalSeconds: 50, downtimeMs: 1, bytes: 1, converges: true } }),
      move('3', 'a', 'b', { mustMove: true, predicted: { totalSeconds: 90, downtimeMs: 1, bytes: 1, converges: true } }),
      move('4', 'a', 'b', { predicted: { totalSeconds: 2, downtimeMs: 1, bytes: 1, converges: true } }),
      move('5', 'a', 'b', { mustMove: true, predicted: { totalSeconds: 30, downtimeMs: 1, bytes: 1, converges: true } }),
    ];
    expect(names(byPriority(moves, tagged))).toEqual(['5', '3', '2', '4', '1']);
    expect(vmPriority(tagged.vms.find((v) => v.name === '2'))).toBe(5);
    expect(vmPriority(undefined)).toBe(0);
    // Admission follows that order: the must-move gets the one slot.
    expect(names(admit(moves, [], tagged, defaults).admitted)).toEqual(['5']);
  });
});

describe('the queue', () => {
  it('starts what fits when a slot frees, keeps what is still over a budget, drops what can no longer start', () => {
    const queue = new MoveQueue();
    const first = admit([move('1', 'a', 'b'), move('2', 'a', 'c'), move('3', 'a', 'd')], [], s, defaults);
    queue.replace(first.rejected.filter((r) => r.waits).map((r) => r.move));
    expect(names(queue.moves)).toEqual(['2', '3']);
    // 1 still runs: nothing starts.
    expect(queue.next([{ vmUuid: uuid('1'), from: 'a', to: 'b', bandwidthMiBps: 0 }], s, defaults).admitted).toEqual([]);
    expect(queue.size).toBe(2);
    // 1 ended; d went down meanwhile: 2 starts, 3 leaves the queue with why.
    const later = state([host('a'), host('b'), host('c'), host('d', { up: false })], s.vms, {
      inFlight: [{ vmUuid: uuid('1'), vmName: '1', from: 'a', to: 'b', startedAtMs: 0 }],
    });
    const next = queue.next([], later, defaults);
    expect(names(next.admitted)).toEqual(['2']);
    expect(next.rejected.map((r) => [r.move.vmName, r.reason])).toEqual([['3', 'target host d is down']]);
    expect(queue.size).toBe(0);
  });
});

describe('pacing by measured durations (storm control)', () => {
  const config = migrationSchema.parse({ maxConcurrent: 10, hostBudgets: { a: { send: 2 } }, maxPerTargetHost: 4 });
  const timed = (ms: number, from = 'a') => ({ vmUuid: uuid('5'), from, to: 'b', atMs: 0, durationMs: ms });
  const slow = { ...s, recentMoves: [timed(50_000), timed(70_000), timed(5_000, 'c')] };
  const moves = [move('1', 'a', 'b'), move('2', 'a', 'c'), move('3', 'a', 'd', { mustMove: true })];

  it('a host whose moves take 60 s gets 1 balancing move per 30 s tick (2 slots x 30 s / 60 s); must-moves are not paced', () => {
    const r = admit(moves, [], slow, config, { tickSeconds: 30 });
    expect(names(r.admitted)).toEqual(['3', '1']);
    expect(r.rejected).toEqual([
      {
        move: expect.objectContaining({ vmName: '2' }),
        waits: false,
        reason: 'paced: 1 balancing move(s) from a per 30 s tick at its measured 60.0 s per move; planned again next tick',
      },
    ]);
  });

  it('fast moves or no tick given: no pacing; nothing timed yet: no pacing', () => {
    const fast = { ...s, recentMoves: [timed(10_000)] };
    expect(names(admit(moves, [], fast, config, { tickSeconds: 30 }).admitted)).toEqual(['3', '1']);
    expect(admit(moves, [], fast, config, { tickSeconds: 30 }).rejected.map((r) => r.waits)).toEqual([true]);
    expect(admit(moves, [], slow, config).rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/already sends 2 of its budget 2/)]);
    expect(admit(moves, [], s, config, { tickSeconds: 30 }).rejected.map((r) => r.waits)).toEqual([true]);
  });
});

describe('config', () => {
  it('refuses migration.hostBudgets for a host the config does not have, naming it and the hosts', () => {
    expect(() =>
      parseConfig({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' }], migration: { hostBudgets: { kvm9: { send: 2 } } } }, 'c.yaml'),
    ).toThrow(/migration\.hostBudgets\.kvm9.*"kvm9" is not among hosts \(kvm1\); name a host from hosts\[\]\.name/s);
  });

  it('policy.vmPriorities gives a VM the priority:N tag, replacing one from metadata', () => {
    expect(withConfigTags('db', ['priority:1', 'group:x'], { pinnedVms: [], vmPriorities: { db: 7 } })).toEqual(['group:x', 'priority:7']);
    expect(withConfigTags('web', ['priority:1'], { pinnedVms: [], vmPriorities: { db: 7 } })).toEqual(['priority:1']);
  });
});
