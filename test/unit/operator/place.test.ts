/** Placement of a new VM: the engine's hard limits, the policies' filters and scores, a reason per refused host. */
import { describe, expect, it } from 'vitest';
import { joinAffinityGroup, parseLabels, placeJson } from '../../../src/cli/commands/place.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { defaultPolicies } from '../../../src/policy/loader.js';
import { judgeTargets, newVmObservation } from '../../../src/policy/place.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;
const newVm = (extra: Partial<Parameters<typeof newVmObservation>[0]> = {}) =>
  newVmObservation({ name: 'new1', vcpus: 2, memoryMiB: 2048, cpuRatio: 0.5, ...extra });

describe('judgeTargets for a new VM', () => {
  it('picks the least loaded host (balance score) and says why every other host is refused', async () => {
    const s = state(
      [
        host('busy'),
        host('idle'),
        host('maint', { maintenance: true }),
        host('down', { up: false, downReason: 'connection refused' }),
        host('small', { memoryTotalBytes: 2 * GiB }),
      ],
      [vm('b1', 'busy', 0.3, { vcpus: 4 }), vm('s1', 'small', 0.1, { memoryBytes: 1 * GiB })],
    );
    const verdicts = await judgeTargets(newVm(), s);
    expect(verdicts.map((v) => [v.host, v.accepted])).toEqual([
      ['idle', true],
      ['busy', true],
      ['maint', false],
      ['down', false],
      ['small', false],
    ]);
    expect(verdicts[0].score!).toBeGreaterThan(verdicts[1].score!);
    const reasons = Object.fromEntries(verdicts.filter((v) => !v.accepted).map((v) => [v.host, v.reason]));
    expect(reasons).toEqual({
      maint: 'maint is in maintenance',
      down: 'down is down (connection refused)',
      small: 'small lacks memory (1024 MiB free, new1 needs 2048 MiB)',
    });
    expect(placeJson(verdicts).host).toBe('idle');
  });

  it('refuses a host the balance threshold or the vCPU overcommit refuses, naming the policy or limit', async () => {
    const s = state([host('hot'), host('packed', { cpuOvercommitRatio: 1 })], [vm('h1', 'hot', 0.7, { vcpus: 4 }), vm('p1', 'packed', 0.1, { vcpus: 3 })]);
    const verdicts = await judgeTargets(newVm(), s);
    expect(verdicts.every((v) => !v.accepted)).toBe(true);
    expect(verdicts.find((v) => v.host === 'hot')!.reason).toBe('balance: hot would reach CPU 95% (limit 75% with hysteresis)');
    expect(verdicts.find((v) => v.host === 'packed')!.reason).toBe('packed would exceed its vCPU overcommit (5 vCPUs, limit 4)');
  });

  it('required labels and CPU model', async () => {
    const features = ['sse4_2', 'avx', 'avx2'];
    const s = state(
      [
        host('a', { labels: { rack: 'r1' }, cpuModel: 'Skylake', cpuFeatures: features }),
        host('b', { labels: { rack: 'r2' }, cpuModel: 'Icelake', cpuFeatures: [...features, 'avx512f'] }),
        host('c', { cpuModel: 'Haswell', cpuFeatures: ['sse4_2', 'avx'] }),
      ],
      [],
    );
    const byLabel = await judgeTargets(newVm(), s, { requiredLabels: { rack: 'r2' } });
    expect(byLabel.map((v) => [v.host, v.accepted, v.reason])).toEqual([
      ['b', true, undefined],
      ['a', false, 'a lacks label rack=r2 (has rack=r1)'],
      ['c', false, 'c lacks label rack=r2'],
    ]);
    const byModel = await judgeTargets(newVm({ cpuModel: 'Skylake' }), s, { cpuModel: 'Skylake' });
    expect(Object.fromEntries(byModel.map((v) => [v.host, v.reason ?? 'fits']))).toEqual({
      a: 'fits',
      b: 'fits',
      c: "c (Haswell) lacks 1 of the 3 CPU features new1's CPU model Skylake (its features as on a) needs: avx2",
    });
    const unknown = await judgeTargets(newVm({ cpuModel: 'EPYC' }), s, { cpuModel: 'EPYC' });
    expect(unknown[0].reason).toBe('a has CPU Skylake, not EPYC, and no host of model EPYC to compare features with');
  });

  it('joins an anti-affinity group: hosts with a member are refused by the affinity policy', async () => {
    const vms = [vm('web1', 'a', 0.1), vm('web2', 'b', 0.1)];
    const base = policySchema.parse({ affinityGroups: [{ name: 'web', type: 'anti-affinity', vms: ['web1', 'web2'] }] });
    const s = state([host('a'), host('b'), host('c')], vms);
    const joined = joinAffinityGroup('web', 'new1', base, s);
    expect(joined.policy.affinityGroups[0].vms).toEqual(['web1', 'web2', 'new1']);
    const verdicts = await judgeTargets(newVm(), s, { config: joined.policy, policies: defaultPolicies(joined.policy) });
    expect(verdicts.map((v) => [v.host, v.accepted ? 'fits' : v.reason])).toEqual([
      ['c', 'fits'],
      ['a', 'affinity: anti-affinity group web already has a member on a'],
      ['b', 'affinity: anti-affinity group web already has a member on b'],
    ]);
    // Not in config: tags follow the members' tag kind.
    const tagged = state([host('a')], [vm('db1', 'a', 0.1, { tags: ['group:db'] })]);
    expect(joinAffinityGroup('db', 'n', base, tagged).tags).toEqual(['group:db']);
    expect(joinAffinityGroup('cache', 'n', base, tagged).tags).toEqual(['affinity:cache']);
  });

  it('the target plan() chooses for a VM is one judgeTargets accepts for it', async () => {
    const vms = [vm('m1', 'a', 0.2, { vcpus: 2 }), vm('m2', 'a', 0.2), vm('x', 'b', 0.5, { vcpus: 4 })];
    const s = state([host('a', { maintenance: true }), host('b'), host('c'), host('d', { memoryTotalBytes: GiB / 2 })], vms);
    const config = policySchema.parse({ maxMovesPerTick: 1 });
    const p = await plan(s, { config });
    expect(p.moves).toHaveLength(1);
    const moved = vms.find((v) => v.name === p.moves[0].vmName)!;
    const verdicts = await judgeTargets(moved, s, { config, mustMove: true });
    expect(verdicts.filter((v) => v.accepted).map((v) => v.host)).toContain(p.moves[0].to);
    expect(verdicts.find((v) => v.host === 'd')!.accepted).toBe(false);
  });

  it('parses --labels, refusing a pair without "="', () => {
    expect(parseLabels(['rack=a', 'zone=eu=1'])).toEqual({ rack: 'a', zone: 'eu=1' });
    expect(() => parseLabels(['rack'])).toThrow('--labels "rack" is not key=value (e.g. --labels rack=a)');
  });
});
