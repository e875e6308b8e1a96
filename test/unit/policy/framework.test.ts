import { describe, expect, it } from 'vitest';
import { renderPlan, planJson } from '../../../src/cli/commands/plan.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { definePolicy } from '../../../src/policy/api.js';
import { CORE_FILTERS } from '../../../src/policy/core-filters.js';
import { plan } from '../../../src/policy/engine.js';
import { defaultPolicies, loadPolicies } from '../../../src/policy/loader.js';
import { builtinPolicies, registerBuiltinPolicy } from '../../../src/policy/registry.js';
import { evaluateTargets } from '../../../src/policy/targets.js';
import { host, state, vm } from './fixtures.js';

const GiB = 2 ** 30;
const config = policySchema.parse({ cooldownSeconds: 600, maxMovesPerTick: 3, spread: { enabled: false } });

describe('rules live in one place', () => {
  it('a maintenance host is never a target even with the maintenance policy disabled (core filter not-in-maintenance)', async () => {
    const noMaintenance = policySchema.parse({ ...config, policies: [{ name: 'balance' }, { name: 'maintenance', enabled: false }] });
    // b is the only cool host, and it is in maintenance.
    const s = state([host('a'), host('b', { maintenance: true })], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)]);
    const p = await plan(s, { config: noMaintenance });
    expect(p.moves).toEqual([]);
    expect(p.skipped.find((x) => x.vmName === 'v1')!.reason).toBe('no eligible target: b is in maintenance');
  });

  it('memory is never overcommitted whatever policies config lists; listing the former capacity policy still loads', async () => {
    const withCapacity = policySchema.parse({ ...config, policies: [{ name: 'maintenance' }, { name: 'capacity' }] });
    const loaded = await loadPolicies(withCapacity);
    expect(loaded.map((l) => l.policy.name)).toEqual(['maintenance']);
    // Every VM must leave a (maintenance); b has room for one of them.
    const s = state(
      [host('a', { memoryTotalBytes: 8 * GiB, maintenance: true }), host('b', { memoryTotalBytes: 3 * GiB })],
      [1, 2, 3, 4].map((i) => vm(`v${i}`, 'a', 0.1, { memoryBytes: 2 * GiB })),
    );
    const p = await plan(s, { config: withCapacity, policies: loaded });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['v1', 'b']]);
    expect(p.skipped.find((x) => x.vmName === 'v2')!.reason).toBe(
      'no eligible target within the hard limits: b lacks memory (1024 MiB free, v2 needs 2048 MiB)',
    );
  });

  it('core filters are named and in their order', () => {
    expect(CORE_FILTERS.map((f) => f.name)).toEqual([
      'host-up',
      'not-in-standby',
      'not-in-maintenance',
      'vcpus',
      'cpu-topology',
      'cpu-compat',
      'version-monotonic',
      'capacity',
      'headroom',
      'retry-after-failure',
      'no-ping-pong',
    ]);
  });

  it('built-ins registered themselves; a second built-in with a taken name is refused', () => {
    expect([...builtinPolicies().keys()]).toEqual(['balance', 'maintenance', 'pin', 'affinity', 'consolidation']);
    expect(() => registerBuiltinPolicy(definePolicy({ name: 'balance' }))).toThrow('two built-in policies named "balance"; rename one');
  });
});

describe('policy timeouts make an incomplete plan, said so', () => {
  it('a select that runs past policy.policyTimeoutMs is in plan.timeouts, and plan output starts with the warning', async () => {
    const s = state([host('a'), host('b')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)]);
    const slowSelect = definePolicy({ name: 'slow-select', select: () => new Promise((r) => setTimeout(() => r([]), 400)) });
    const quick = { ...config, policyTimeoutMs: 50 };
    const p = await plan(s, { config: quick, policies: [...defaultPolicies(quick), { policy: slowSelect, weight: 1, options: {}, source: 'test' }] });
    expect(p.timeouts).toEqual([
      { policy: 'slow-select', point: 'select', timeoutMs: 50, message: 'select threw: timed out after 50 ms (policy.policyTimeoutMs)' },
    ]);
    // The built-in balance policy still planned its moves.
    expect(p.moves.length).toBeGreaterThan(0);
    expect(renderPlan(p).split('\n')[0]).toBe(
      'INCOMPLETE PLAN: 1 policy call ran past policy.policyTimeoutMs (50 ms): slow-select select. What they would have nominated or allowed is missing from the moves below; make the policy faster or raise policy.policyTimeoutMs.',
    );
    expect(planJson(p)).toMatchObject({ complete: false, timeouts: [{ policy: 'slow-select', point: 'select' }] });
  });

  it('a plan without timeouts is complete and has per-policy timings', async () => {
    const s = state([host('a'), host('b')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 1)]);
    const p = await plan(s, { config });
    expect(p.timeouts).toEqual([]);
    expect(planJson(p).complete).toBe(true);
    const select = p.policyTimings!.find((t) => t.policy === 'balance' && t.point === 'select')!;
    expect(select.calls).toBe(1);
    // One filter call per judged target: b, for the first candidate.
    expect(p.policyTimings!.find((t) => t.policy === 'balance' && t.point === 'filter')!.calls).toBeGreaterThanOrEqual(1);
  });
});

describe('evaluateTargets (for place)', () => {
  it('judges every other host: accepted with a score, or refused naming the core filter or policy and why', async () => {
    const s = state(
      [host('a'), host('b'), host('c', { maintenance: true }), host('d', { memoryTotalBytes: 0.5 * GiB }), host('e')],
      [vm('v1', 'a', 1), vm('pinned', 'a', 0.1, { tags: ['pinned'] }), vm('busy', 'e', 1), vm('busy2', 'e', 1), vm('busy3', 'e', 1), vm('busy4', 'e', 1)],
    );
    const result = await evaluateTargets(s, s.vms[0], { config });
    expect(result.map((r) => [r.host, r.accepted, r.refusedBy])).toEqual([
      ['b', true, undefined],
      ['c', false, 'not-in-maintenance'],
      ['d', false, 'capacity'],
      ['e', false, 'balance'],
    ]);
    expect(result[0].score).toBeGreaterThan(0);
    expect(result[0].gain).toBeGreaterThan(0);
    expect(result[3].reason).toMatch(/^balance: e would reach CPU 125% \(limit 75% with hysteresis\)$/);
    const pinned = await evaluateTargets(s, s.vms[1], { config });
    expect(pinned.find((r) => r.host === 'b')).toMatchObject({ accepted: false, refusedBy: 'pin', reason: 'pin: pinned is pinned' });
  });
});
