/** `approve` starts a move within the budgets run applies (policy/scheduling.ts): it waits for a slot, never fails for one. */
import { describe, expect, it } from 'vitest';
import { whenAdmitted } from '../../../src/cli/commands/approve.js';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { host, state, vm } from '../policy/fixtures.js';

const config = migrationSchema.parse({ pollIntervalMs: 100 });
const busy = state([host('a'), host('b')], [vm('1', 'a', 0.1), vm('2', 'a', 0.1, { jobRunning: true })]);
const free = state([host('a'), host('b')], [vm('1', 'a', 0.1), vm('2', 'b', 0.1)]);
const move: Move = {
  vmName: '1',
  vmUuid: busy.vms[0].uuid,
  from: 'a',
  to: 'b',
  technique: 'precopy',
  copyStorage: false,
  predicted: { totalSeconds: 1, downtimeMs: 1, bytes: 1, converges: true },
  reason: '',
  gain: 1,
  inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
};

describe('approve waits for a slot', () => {
  it('a job libvirt shows leaving the source holds its slot; the move starts once it has ended', async () => {
    const seen = [busy, busy, free];
    const waits: string[] = [];
    const r = await whenAdmitted(move, seen.shift()!, { observe: async () => seen.shift()!, config: { migration: config } }, (why) => waits.push(why));
    expect(r.refusal).toBeUndefined();
    expect(r.state).toBe(free);
    expect(waits).toEqual(['source a already sends 1 of its budget 1 (migration.maxPerSourceHost); this move costs 1']);
  });

  it('a VM that has a job of its own is refused, not queued', async () => {
    const own = state([host('a'), host('b')], [vm('1', 'a', 0.1, { jobRunning: true })]);
    const r = await whenAdmitted(move, own, { observe: async () => own, config: { migration: config } }, () => {});
    expect(r.refusal).toBe('a migration of this VM is already running');
  });
});
