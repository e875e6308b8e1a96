/** Storm control: a VM's cooldown grows with its recent moves and resets after a quiet window (policy.cooldownGrowth). */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { HistoryIndex } from '../../../src/policy/core-filters.js';
import { host, state, vm } from './fixtures.js';

const config = policySchema.parse({ cooldownSeconds: 600 });
const v = vm('1', 'a', 0.1);
const min = 60_000;
/** The state `nowMs` with the VM moved at each of `movesAtMs` (last = its last move). */
function after(movesAtMs: number[], nowMs: number) {
  return state([host('a'), host('b')], [v], {
    observedAtMs: nowMs,
    lastMovedAtMs: { [v.uuid]: movesAtMs.at(-1)! },
    recentMoves: movesAtMs.map((atMs, i) => ({ vmUuid: v.uuid, from: i % 2 ? 'b' : 'a', to: i % 2 ? 'a' : 'b', atMs })),
  });
}
const cooldown = (moves: number[], nowMs: number, c = config) => new HistoryIndex(after(moves, nowMs), c, nowMs).cooldown(v);

describe('cooldown growth', () => {
  it('one move: cooldownSeconds, as before', () => {
    expect(cooldown([0], 9 * min)).toBe('moved 540 s ago; cooldown 600 s');
    expect(cooldown([0], 10 * min)).toBeUndefined();
  });

  it('doubles with each move within the window: 1,200 s after the second, 2,400 s after the third', () => {
    expect(cooldown([0, 15 * min], 34 * min)).toBe('moved 1140 s ago; cooldown 1200 s (grown from 600 s: moved 2 times within 3600 s)');
    expect(cooldown([0, 15 * min], 35 * min)).toBeUndefined();
    expect(cooldown([0, 15 * min, 40 * min], 40 * min + 2399_000)).toMatch(/cooldown 2400 s \(grown from 600 s: moved 3 times/);
  });

  it('resets when the moves before the last are older than the window', () => {
    expect(cooldown([0, 15 * min, 200 * min], 209 * min)).toBe('moved 540 s ago; cooldown 600 s');
    expect(cooldown([0, 15 * min, 200 * min], 210 * min)).toBeUndefined();
  });

  it('stops at maxSeconds; factor 1 turns growth off', () => {
    const moves = [0, 1, 2, 3, 4, 5, 6].map((i) => i * 5 * min);
    expect(cooldown(moves, moves.at(-1)! + 1000)).toMatch(/cooldown 14400 s/);
    const off = policySchema.parse({ cooldownSeconds: 600, cooldownGrowth: { factor: 1 } });
    expect(cooldown(moves, moves.at(-1)! + 1000, off)).toBe('moved 1 s ago; cooldown 600 s');
  });
});
