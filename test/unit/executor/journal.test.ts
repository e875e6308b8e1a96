import { describe, expect, it } from 'vitest';
import { unfinishedStarts, type JournalEntry } from '../../../src/executor/journal.js';

const started = (vmUuid: string, atMs: number, to = 'b'): JournalEntry => ({ type: 'started', atMs, vm: `vm-${vmUuid}`, vmUuid, from: 'a', to, technique: 'precopy' });
const outcome = (vmUuid: string, atMs: number): JournalEntry => ({ type: 'outcome', atMs, vm: `vm-${vmUuid}`, vmUuid, from: 'a', to: 'b', technique: 'precopy', outcome: 'completed' });

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
