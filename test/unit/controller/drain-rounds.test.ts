/**
 * Every drain runs in rounds (workflows/drain-rounds.ts): a VM that fits nowhere until a make-room
 * move ran follows in the next round, on a fresh observation. The one-shot `drain` command
 * (`drainNow`) and the daemon's drain request (the control socket's handler) ended not-ok after a
 * make-room move, the follower left behind as "skipped", while a maintenance roll's drain already
 * went on; now all three share the rounds. The cluster is a fake world the fake executor changes.
 */
import { describe, expect, it, vi } from 'vitest';
import type { VmObservation } from '../../../src/cluster/model.js';
import { parseConfig } from '../../../src/config/load.js';
import type { Controller } from '../../../src/controller/controller.js';
import type { ControlEvent } from '../../../src/controller/control-protocol.js';
import { operatorRequestHandler } from '../../../src/controller/operator-requests.js';
import type { WorkflowContext } from '../../../src/controller/workflows/context.js';
import type { DrainRoundsOutcome } from '../../../src/controller/workflows/drain-rounds.js';
import { DRAIN_ROUNDS, drainNow } from '../../../src/controller/workflows/drain-rounds.js';
import type { MigrationResult } from '../../../src/executor/index.js';
import '../../../policies/index.js';
import { testWorkflowContext } from './workflow-context.js';
import type { Move } from '../../../src/policy/index.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;

/**
 * Hosts a, b, c of 16 GiB (memory overcommit 1): big (12 GiB) on a, fill (8 GiB) on b, small
 * (5 GiB) on c. big fits nowhere until small (or fill) moves: a make-room move, then big follows.
 * `extra` VMs join the world (on a: more VMs to drain).
 */
async function world(extra: VmObservation[] = [], options: { refill?: boolean; spareHostBytes?: number } = {}) {
  const vms = new Map<string, VmObservation>();
  for (const v of [
    vm('big', 'a', 0.1, { memoryBytes: 12 * GiB, maxMemoryBytes: 12 * GiB }),
    vm('fill', 'b', 0.1, { memoryBytes: 8 * GiB, maxMemoryBytes: 8 * GiB }),
    vm('small', 'c', 0.1, { memoryBytes: 5 * GiB, maxMemoryBytes: 5 * GiB }),
    ...extra,
  ])
    vms.set(v.uuid, v);
  const names = options.spareHostBytes ? ['a', 'b', 'c', 'd'] : ['a', 'b', 'c'];
  const observe = () =>
    state(
      names.map((h) => host(h, h === 'd' ? { memoryTotalBytes: options.spareHostBytes } : {})),
      [...vms.values()],
    );
  const config = parseConfig({ hosts: names.map((name, i) => ({ name, uri: `qemu+tcp://127.0.0.1:${i + 1}/system` })) });
  const finished: MigrationResult[] = [];
  const rounds: string[][] = [];
  const migrate = (m: Move): MigrationResult => {
    const v = vms.get(m.vmUuid)!;
    vms.set(m.vmUuid, { ...v, host: m.to });
    // Someone starts a VM of the same size in the room a make-room move freed.
    if (options.refill && m.makesRoomFor) {
      const intruder = vm(`intruder-${vms.size}`, m.from, 0.1, { memoryBytes: v.memoryBytes, maxMemoryBytes: v.maxMemoryBytes });
      vms.set(intruder.uuid, intruder);
    }
    const r = {
      vm: m.vmName,
      vmUuid: m.vmUuid,
      from: m.from,
      to: m.to,
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 1000,
    } as unknown as MigrationResult;
    finished.push(r);
    return r;
  };
  const executor = {
    submit: vi.fn((moves: Move[]) => {
      rounds.push(moves.map((m) => m.vmName));
      for (const m of moves) migrate(m);
      return { rejected: [] };
    }),
    runNow: vi.fn(async (m: Move) => migrate(m)),
    finished: () => finished,
    dropped: () => [],
    queued: () => [],
    whenIdle: async () => {},
    inFlight: () => [],
  };
  const ctx = await testWorkflowContext(config, executor, observe);
  const on = (h: string) => [...vms.values()].filter((v) => v.host === h).map((v) => v.name);
  return { ctx, observe, rounds, executor, on };
}

describe('a drain in rounds', () => {
  it('drain (the one-shot command): a make-room move, then the VM that waited for it; ok, the host empty', async () => {
    const w = await world([vm('tiny', 'a', 0.1)]);
    const outcome = await drainNow(w.ctx, w.observe(), 'a');
    expect(w.on('a')).toEqual([]);
    expect(outcome.ok, JSON.stringify(outcome.plan.skipped)).toBe(true);
    expect(outcome).toMatchObject({ rounds: 2, notMoved: [] });
    expect(outcome.stopped).toBeUndefined();
    expect(outcome.plan.skipped).toEqual([]);
    // Round 1: a's tiny and the make-room move; round 2: big, which waited for it.
    expect(w.rounds).toHaveLength(2);
    expect(w.rounds[0]).toContain('tiny');
    expect(w.rounds[0]).not.toContain('big');
    expect(w.rounds[1]).toEqual(['big']);
    expect(outcome.results.map((r) => r.vm).sort()).toEqual([...w.rounds.flat()].sort());
  });

  it("the daemon's drain request: the same rounds beside its ticks, a 'planned' progress per round, ok", async () => {
    const w = await world();
    const controller = {
      isLeader: () => true,
      draining: new Set<string>(),
      serveRequest: <T>(run: (ctx: WorkflowContext) => Promise<T>) => run(w.ctx),
    } as unknown as Controller;
    const events: ControlEvent[] = [];
    const outcome = (await operatorRequestHandler(controller)({ op: 'drain', host: 'a' }, (e) => events.push(e))) as DrainRoundsOutcome;
    expect(w.on('a')).toEqual([]);
    expect(outcome.ok, JSON.stringify(outcome.plan.skipped)).toBe(true);
    const moved = w.executor.runNow.mock.calls.map(([m]) => m.vmName);
    expect(moved).toHaveLength(2);
    expect(moved[1]).toBe('big');
    expect(events.filter((e) => e.type === 'progress' && e.kind === 'planned')).toHaveLength(2);
  });

  it('a VM that fits nowhere even after a make-room move: drain moves what it can and ends not ok (cannot-place), naming it', async () => {
    // huge (17 GiB) fits on no host of 16 GiB.
    const w = await world([vm('huge', 'a', 0.1, { memoryBytes: 17 * GiB, maxMemoryBytes: 17 * GiB }), vm('tiny', 'a', 0.1)]);
    const outcome = await drainNow(w.ctx, w.observe(), 'a');
    expect(outcome).toMatchObject({ ok: false, stopped: 'cannot-place' });
    expect(outcome.plan.skipped.map((s) => s.vmName)).toContain('huge');
    expect(w.on('a')).toContain('huge');
    expect(w.on('a')).not.toContain('tiny');
  });
  it('a VM still waiting after the last round: its make-room move is not run again, the drain ends cannot-place after DRAIN_ROUNDS rounds', async () => {
    // d (10 GiB) takes two 5 GiB make-room moves, never big; each room freed on c is taken again at once.
    const w = await world([], { refill: true, spareHostBytes: 10 * GiB });
    const outcome = await drainNow(w.ctx, w.observe(), 'a');
    expect(outcome).toMatchObject({ ok: false, stopped: 'cannot-place', rounds: DRAIN_ROUNDS });
    expect(w.on('a')).toEqual(['big']);
    // One make-room move a round before the last; the last runs none (room freed then would serve nobody).
    expect(w.rounds).toHaveLength(DRAIN_ROUNDS);
    expect(w.rounds.slice(0, -1).every((r) => r.length === 1)).toBe(true);
    expect(w.rounds.at(-1)).toEqual([]);
  });
});
