/**
 * Per-VM overrides (issue 28 item 3) from metadata tags and from policy.vmOverrides: automation
 * (which moves wait for approval), evacuation (how a VM leaves a host in maintenance), techniques
 * (what the chooser may pick); each shown in the plan where it changed a decision.
 */
import { describe, expect, it } from 'vitest';
import { withConfigTags } from '../../../src/cluster/config-tags.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { splitByAutomation } from '../../../src/executor/recommendations.js';
import { plan } from '../../../src/policy/engine.js';
import { host, state, vm } from './fixtures.js';

const config = (extra: Record<string, unknown> = {}) => policySchema.parse(extra);

/**
 * h1 hot (95 % CPU), h2 idle: balancing moves `a` to h2. `b` is pinned, so `a` is the only VM that
 * can relieve h1 (with a movable `b`, a VM whose override makes it wait goes after it: candidates.ts).
 */
function hot(tags: string[] = []) {
  return state([host('h1'), host('h2')], [vm('a', 'h1', 0.5, { vcpus: 4, tags }), vm('b', 'h1', 0.45, { vcpus: 4, tags: ['pinned'] })]);
}

/** h1 in maintenance holding one VM per evacuation mode, h2 free. */
function drain(extra: { state?: 'running' | 'shutoff' } = {}) {
  return state(
    [host('h1', { maintenance: true }), host('h2')],
    [
      vm('default', 'h1', 0.1),
      vm('live', 'h1', 0.1, { tags: ['evacuation:live'] }),
      vm('cold', 'h1', 0.1, { tags: ['evacuation:cold'], state: extra.state ?? 'running' }),
      vm('shutdown', 'h1', 0.1, { tags: ['evacuation:shutdown'], state: extra.state ?? 'running' }),
      vm('never', 'h1', 0.1, { tags: ['evacuation:never'] }),
    ],
  );
}

describe('automation override', () => {
  it('automation:manual: the balancing move is planned, marked manual, says so, and waits for approval under policy.automation full', async () => {
    const p = await plan(hot(['automation:manual']), { config: config() });
    expect(p.moves.map((m) => [m.vmName, m.to, m.automation])).toEqual([['a', 'h2', 'manual']]);
    expect(p.moves[0].reason).toContain("; waits for approval: a's automation is manual (policy.automation full)");
    expect(splitByAutomation(p.moves, 'full')).toEqual({ run: [], wait: p.moves });
    // Without the override the same move runs.
    const plain = await plan(hot(), { config: config() });
    expect(plain.moves[0].automation).toBeUndefined();
    expect(plain.moves[0].reason).not.toContain('approval');
    expect(splitByAutomation(plain.moves, 'full').run).toEqual(plain.moves);
  });

  it('automation:full under policy.automation manual runs without approval and says so', async () => {
    const p = await plan(hot(['automation:full']), { config: config({ automation: 'manual' }) });
    expect(p.moves[0].reason).toContain("; runs without approval: a's automation is full (policy.automation manual)");
    expect(splitByAutomation(p.moves, 'manual')).toEqual({ run: p.moves, wait: [] });
  });

  it('automation:partial: its must-moves (drain) run, its balancing moves wait', async () => {
    const balancing = await plan(hot(['automation:partial']), { config: config() });
    expect(splitByAutomation(balancing.moves, 'full').wait.map((m) => m.vmName)).toEqual(['a']);
    const drained = state([host('h1', { maintenance: true }), host('h2')], [vm('a', 'h1', 0.1, { tags: ['automation:partial'] })]);
    const p = await plan(drained, { config: config() });
    expect(p.moves.map((m) => [m.vmName, m.mustMove])).toEqual([['a', true]]);
    // Same decision as policy.automation full: nothing said.
    expect(p.moves[0].reason).not.toContain('approval');
    expect(splitByAutomation(p.moves, 'full').run.map((m) => m.vmName)).toEqual(['a']);
  });

  it('policy.vmOverrides gives the same, and replaces a metadata tag of the same key', async () => {
    const policy = config({ vmOverrides: { a: { automation: 'manual' } } });
    const s = hot(['automation:full']);
    s.vms = s.vms.map((v) => ({ ...v, tags: withConfigTags(v.name, v.tags, policy) }));
    expect(s.vms[0].tags).toEqual(['automation:manual']);
    const p = await plan(s, { config: policy });
    expect(p.moves.map((m) => m.automation)).toEqual(['manual']);
  });
});

describe('evacuation override', () => {
  it('a drain moves default and live VMs; cold (running), shutdown and never stay, each said in a notice', async () => {
    const p = await plan(drain(), { config: config({ maxMovesPerTick: 10 }) });
    expect(p.moves.map((m) => m.vmName).sort()).toEqual(['default', 'live']);
    expect(p.notices?.filter((n) => n.source === 'maintenance').map((n) => n.message)).toEqual([
      'cold on h1 (in maintenance) moves only cold (evacuation cold): shut it down and it moves',
      'shutdown on h1 (in maintenance) is to be shut down, not moved (evacuation shutdown): shut it down (virsh shutdown) before the host goes down',
      'never on h1 (in maintenance) stays (evacuation never): the host is not empty while it is there; shut it down and undefine it, or change its evacuation',
    ]);
  });

  it('shut off: evacuation cold moves cold, evacuation shutdown stays', async () => {
    const p = await plan(drain({ state: 'shutoff' }), { config: config({ maxMovesPerTick: 10 }) });
    expect(p.moves.find((m) => m.vmName === 'cold')?.technique).toBe('cold');
    expect(p.moves.map((m) => m.vmName)).not.toContain('shutdown');
    expect(p.notices?.map((n) => n.message)).toContain('shutdown on h1 (in maintenance) stays shut off on its host (evacuation shutdown)');
  });
});

describe('techniques override', () => {
  it('techniques:postcopy: the chooser picks post-copy, which it would not for this idle VM, and the reason says why', async () => {
    const plain = await plan(hot(), { config: config() });
    expect(plain.moves[0].technique).not.toBe('postcopy');
    const p = await plan(hot(['techniques:postcopy']), { config: config() });
    expect(p.moves.map((m) => m.technique)).toEqual(['postcopy']);
    expect(p.moves[0].reason).toContain("; technique chosen from a's override postcopy");
  });

  it('techniques that cannot move it (cold for a running VM) skip it, naming the override', async () => {
    const p = await plan(hot(['techniques:cold']), { config: config() });
    expect(p.moves.map((m) => m.vmName)).not.toContain('a');
    expect(p.skipped.find((x) => x.vmName === 'a')?.reason).toBe("no live technique allowed (the VM's techniques override (cold) and technique policies)");
  });
});

describe('override values', () => {
  it('a tag with an unknown value is ignored and said once in the plan', async () => {
    const p = await plan(hot(['automation:sometimes', 'techniques:precopy+warp']), { config: config() });
    expect(p.moves[0].automation).toBeUndefined();
    expect(p.notices?.map((n) => n.message)).toEqual([
      "a's tag automation:sometimes is not one of manual, partial, full; ignored",
      "a's tag techniques:precopy+warp names unknown techniques warp (known: precopy, postcopy, hybrid, autoconverge, xbzrle, multifd, cold, joined by +); ignored",
    ]);
  });

  it('config refuses an unknown override key or value, naming the field', () => {
    const key = policySchema.safeParse({ vmOverrides: { a: { automaton: 'manual' } } });
    expect(key.success).toBe(false);
    expect(key.error?.issues[0].path).toEqual(['vmOverrides', 'a']);
    const value = policySchema.safeParse({ vmOverrides: { a: { evacuation: 'migrate' } } });
    expect(value.error?.issues[0].path).toEqual(['vmOverrides', 'a', 'evacuation']);
  });
});
