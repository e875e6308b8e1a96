/**
 * Anti-affinity over a failure domain (issue 29 item 2): a group with `scope: rack` keeps its
 * members in different racks (hosts sharing the label's value), not only on different hosts; the
 * same rule for moves, repairs and `place`.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { judgeTargets } from '../../../src/policy/place.js';
import { host, state, vm } from './fixtures.js';

/** Racks a (a1, a2), b (b1) and c (c1); h0 carries no rack label. */
const hosts = () => [
  host('a1', { labels: { rack: 'a' } }),
  host('a2', { labels: { rack: 'a' } }),
  host('b1', { labels: { rack: 'b' } }),
  host('c1', { labels: { rack: 'c' } }),
];
const group = (scope?: string) => policySchema.parse({ affinityGroups: [{ name: 'db', type: 'anti-affinity', vms: ['db1', 'db2'], scope }] });

describe('anti-affinity over a host label', () => {
  it('two members on different hosts of one rack: a violation with scope rack (one moves to another rack), none without', async () => {
    const s = state(hosts(), [vm('db1', 'a1', 0.1), vm('db2', 'a2', 0.1)]);
    expect((await plan(s, { config: group() })).moves).toEqual([]);
    const p = await plan(s, { config: group('rack') });
    expect(p.moves.map((m) => [m.vmName, m.mustMove])).toEqual([['db2', true]]);
    expect(['b1', 'c1']).toContain(p.moves[0].to);
    expect(p.moves[0].reason).toMatch(/^affinity: anti-affinity group db over rack: shares rack a with db1 \(on a1\); to /);
  });

  it('a move into a rack that holds a member is refused, naming the group, the rack and the member', async () => {
    const s = state(hosts(), [vm('db1', 'a1', 0.1), vm('db2', 'b1', 0.1)]);
    const db2 = s.vms[1];
    const verdicts = await judgeTargets(db2, s, { config: group('rack'), mustMove: true });
    expect(verdicts.find((v) => v.host === 'a2')).toMatchObject({
      accepted: false,
      reason: 'affinity: anti-affinity group db over rack already has a member in rack a (db1 on a1)',
    });
    expect(verdicts.find((v) => v.host === 'c1')?.accepted).toBe(true);
    // Without the scope, a2 (another host) is fine.
    expect((await judgeTargets(db2, s, { config: group(), mustMove: true })).find((v) => v.host === 'a2')?.accepted).toBe(true);
  });

  it('a host without the label is a domain of its own', async () => {
    const s = state([...hosts(), host('h0')], [vm('db1', 'a1', 0.1), vm('db2', 'b1', 0.1)]);
    const verdicts = await judgeTargets(s.vms[1], s, { config: group('rack'), mustMove: true });
    expect(verdicts.find((v) => v.host === 'h0')?.accepted).toBe(true);
  });

  it('place: a new member of the group is refused in every rack that holds one', async () => {
    const config = policySchema.parse({ affinityGroups: [{ name: 'db', type: 'anti-affinity', vms: ['db1', 'db2', 'db3'], scope: 'rack' }] });
    const s = state(hosts(), [vm('db1', 'a1', 0.1), vm('db2', 'b1', 0.1)]);
    const verdicts = await judgeTargets(vm('db3', '', 0.1), s, { config });
    expect(verdicts.filter((v) => v.accepted).map((v) => v.host)).toEqual(['c1']);
    expect(verdicts.find((v) => v.host === 'a2')?.reason).toBe('affinity: anti-affinity group db over rack already has a member in rack a (db1 on a1)');
  });

  it('config refuses a scope on a keep-together group, naming the field', () => {
    const r = policySchema.safeParse({ affinityGroups: [{ name: 'web', type: 'affinity', vms: ['w1', 'w2'], scope: 'rack' }] });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0].path).toEqual(['affinityGroups', 0, 'scope']);
  });
});

describe('spread over a host label (max skew 1)', () => {
  it('nominates only the moves the skew needs ([2,2,0] racks: one move, not two), and never counts or targets a host without the label', async () => {
    const config = policySchema.parse({ affinityGroups: [{ name: 'web', type: 'spread', scope: 'rack', vms: ['w1', 'w2', 'w3', 'w4'] }], maxMovesPerTick: 10 });
    const s = state([...hosts(), host('h0')], [vm('w1', 'a1', 0.1), vm('w2', 'a2', 0.1), vm('w3', 'b1', 0.1), vm('w4', 'b1', 0.1)]);
    const p = await plan(s, { config });
    expect(p.moves.map((m) => m.to)).toEqual(['c1']);
    // h0 has no rack label: it is no domain (not an empty one pulling members onto it) and no target.
    const verdicts = await judgeTargets(vm('w5', '', 0.1), s, {
      config: policySchema.parse({ affinityGroups: [{ name: 'web', type: 'spread', scope: 'rack', vms: ['w1', 'w2', 'w3', 'w4', 'w5'] }] }),
    });
    expect(verdicts.find((v) => v.host === 'h0')?.reason).toBe('affinity: spread group web spreads over rack, which h0 has no label for');
  });

  it('place: a new member goes only to the emptiest rack; a fuller rack is refused naming the counts', async () => {
    const config = policySchema.parse({ affinityGroups: [{ name: 'web', type: 'spread', scope: 'rack', vms: ['w1', 'w2', 'w3', 'w4', 'w5', 'w6'] }] });
    // Racks a: w1 w2, b: w3 w4, c: w5 -> the sixth may only go to c.
    const s = state(hosts(), [vm('w1', 'a1', 0.1), vm('w2', 'a2', 0.1), vm('w3', 'b1', 0.1), vm('w4', 'b1', 0.1), vm('w5', 'c1', 0.1)]);
    const verdicts = await judgeTargets(vm('w6', '', 0.1), s, { config });
    expect(verdicts.filter((v) => v.accepted).map((v) => v.host)).toEqual(['c1']);
    expect(verdicts.find((v) => v.host === 'a1')?.reason).toBe(
      'affinity: spread group web over rack: rack a would hold 3 of its 6 members while rack c holds 1 (max skew 1)',
    );
  });

  it('a spread group without scope spreads over hosts: three members on one of three hosts become one per host', async () => {
    const config = policySchema.parse({ affinityGroups: [{ name: 'web', type: 'spread', vms: ['w1', 'w2', 'w3'] }], maxMovesPerTick: 5 });
    const s = state([host('h1'), host('h2'), host('h3')], [vm('w1', 'h1', 0.1), vm('w2', 'h1', 0.1), vm('w3', 'h1', 0.1)]);
    const p = await plan(s, { config });
    expect(p.moves.map((m) => m.to).sort()).toEqual(['h2', 'h3']);
    // Nominated greedily, each counted where the one before it goes: h1 holds 3, then 2.
    expect(p.moves.map((m) => m.mustMove && /^affinity: spread group web over hosts: h1 holds (3|2) of its 3 members/.exec(m.reason)?.[1]).sort()).toEqual([
      '2',
      '3',
    ]);
  });
});
