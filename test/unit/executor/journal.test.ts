import { describe, expect, it } from 'vitest';
import { linkObservations, moveHistory, unfinishedStarts, type JournalEntry } from '../../../src/history/journal.js';

const started = (vmUuid: string, atMs: number, to = 'b'): JournalEntry => ({
  type: 'started',
  atMs,
  vm: `vm-${vmUuid}`,
  vmUuid,
  from: 'a',
  to,
  technique: 'precopy',
});
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

describe('journal: migrations an earlier run never saw end', () => {
  it('are the starts with no later outcome for the same VM, the latest start winning', () => {
    const open = unfinishedStarts([started('1', 1), outcome('1', 2), started('2', 3), started('3', 4), outcome('3', 5), started('1', 6, 'c')]);
    expect([...open.keys()].sort()).toEqual(['1', '2']);
    expect(open.get('1')).toMatchObject({ startedAtMs: 6, to: 'c', from: 'a', technique: 'precopy' });
  });
  it('are none when every start has its outcome', () => {
    expect(unfinishedStarts([started('1', 1), outcome('1', 2)]).size).toBe(0);
  });
});

describe('journal: history read back at start', () => {
  const aborted: JournalEntry = {
    type: 'outcome',
    atMs: 7,
    vm: 'vm-2',
    vmUuid: '2',
    from: 'a',
    to: 'c',
    technique: 'precopy',
    outcome: 'aborted',
    error: 'aborted: 300 s deadline',
  };
  const moved: JournalEntry = {
    type: 'outcome',
    atMs: 9,
    vm: 'vm-1',
    vmUuid: '1',
    from: 'a',
    to: 'b',
    technique: 'precopy',
    outcome: 'completed',
    bytes: 64 * 2 ** 20,
    totalMs: 2000,
  };
  it('separates completed moves (cooldown, ping-pong) from aborted or failed ones (retry delay)', () => {
    const h = moveHistory([started('1', 1), aborted, moved]);
    expect(h.lastMovedAtMs).toEqual({ '1': 9 });
    // With how long it took: pacing (policy/scheduling.ts) reads it after a restart too.
    expect(h.recentMoves).toEqual([{ vmUuid: '1', from: 'a', to: 'b', atMs: 9, durationMs: 2000 }]);
    expect(h.recentFailures).toEqual([{ vmUuid: '2', from: 'a', to: 'c', atMs: 7, outcome: 'aborted', error: 'aborted: 300 s deadline' }]);
  });
  it('gives link observations only for completed moves with their bytes and time', () => {
    expect(linkObservations([aborted, moved, outcome('3', 10)])).toEqual([{ from: 'a', to: 'b', bytes: 64 * 2 ** 20, seconds: 2, tls: false }]);
  });
});
