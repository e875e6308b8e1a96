import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { definePolicy } from '../../../src/policy/api.js';
import { planRequestedMove } from '../../../src/policy/engine.js';
import { defaultPolicies } from '../../../src/policy/loader.js';
import { host, state, vm } from './fixtures.js';

const config = policySchema.parse({});
const GiB = 2 ** 30;

describe("migrate's move is the engine's move", () => {
  it('technique policies narrow it, as they do planned moves', async () => {
    const s = state([host('a'), host('b')], [vm('v1', 'a', 0.5, { memoryBytes: 4 * GiB, dirtyRateMiBps: 2000 })]);
    const noPostcopy = definePolicy({ name: 'no-postcopy', technique: (_vm, allowed) => allowed.filter((t) => t !== 'postcopy' && t !== 'hybrid') });
    const policies = [...defaultPolicies(config), { policy: noPostcopy, weight: 1, options: {}, source: 'test' }];
    const open = await planRequestedMove(s, { vmUuid: s.vms[0].uuid, to: 'b', reason: 'requested' }, { config });
    const narrowed = await planRequestedMove(s, { vmUuid: s.vms[0].uuid, to: 'b', reason: 'requested' }, { config, policies });
    if (!('move' in open) || !('move' in narrowed)) throw new Error('expected moves');
    // A guest dirtying 2000 MiB/s at 1000 MiB/s: the cost model picks post-copy unless a policy forbids it.
    expect(['postcopy', 'hybrid']).toContain(open.move.technique);
    expect(['postcopy', 'hybrid']).not.toContain(narrowed.move.technique);
    expect(narrowed.move).toMatchObject({
      vmName: 'v1',
      from: 'a',
      to: 'b',
      reason: 'requested',
      inputs: { dirtyRateMiBps: 2000, bandwidthMiBps: 1000, bandwidthMeasured: false },
    });
  });

  it('uses the measured link bandwidth, and an explicit technique replaces policy.allowedTechniques', async () => {
    const s = state([host('a'), host('b')], [vm('v1', 'a', 0.5)]);
    const onlyPrecopy = { ...config, allowedTechniques: ['precopy' as const] };
    const r = await planRequestedMove(
      s,
      { vmUuid: s.vms[0].uuid, to: 'b', reason: 'requested', techniques: ['multifd'] },
      { config: onlyPrecopy, linkBandwidthMiBps: () => 250 },
    );
    if (!('move' in r)) throw new Error(r.refused);
    expect(r.move.technique).toBe('multifd');
    expect(r.move.inputs).toMatchObject({ bandwidthMiBps: 250, bandwidthMeasured: true });
  });

  it('a paused VM never moves by post-copy (it could not pull its pages)', async () => {
    const s = state([host('a'), host('b')], [vm('p1', 'a', 0, { state: 'paused' })]);
    const r = await planRequestedMove(s, { vmUuid: s.vms[0].uuid, to: 'b', reason: 'requested', techniques: ['postcopy'] }, { config });
    expect(r).toEqual({ refused: 'paused: moves only by a pre-copy-family technique (precopy, xbzrle, autoconverge, multifd); choose one' });
  });
});
