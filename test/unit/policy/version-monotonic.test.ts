/**
 * Version-monotonic moves (issue 28 item 2): a VM never moves to a host with an older libvirt or
 * QEMU than the one it runs on: always when it leaves a host in maintenance (drain, rolling
 * upgrade), on every move with policy.versionMonotonic always; the refusal names the VM, both hosts
 * and both versions, in plan's skip reasons and for `migrate`.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan, planRequestedMove } from '../../../src/policy/engine.js';
import { judgeTargets } from '../../../src/policy/place.js';
import { host, state, vm } from './fixtures.js';

const V11_3 = 11_003_000;
const V10_0 = 10_000_000;
const Q10 = 10_000_000;
const Q9_2 = 9_002_000;

/** new1 (being upgraded, in maintenance) and new2 run libvirt 11.3 / QEMU 10.0; old runs an older libvirt or QEMU. */
function cluster(old: { libvirtVersion?: number; hypervisorVersion?: number }, maintenance = true) {
  return state(
    [
      host('new1', { maintenance, libvirtVersion: V11_3, hypervisorVersion: Q10 }),
      host('old', { libvirtVersion: V11_3, hypervisorVersion: Q10, ...old }),
      host('new2', { libvirtVersion: V11_3, hypervisorVersion: Q10 }),
    ],
    [vm('web', 'new1', 0.2), vm('filler', 'new2', 0.9, { vcpus: 4 })],
  );
}

describe('version-monotonic moves', () => {
  it('a drain sends the VM to the host with the same versions, never to the older libvirt (even though it is the emptier one)', async () => {
    const s = cluster({ libvirtVersion: V10_0 });
    const p = await plan(s, { config: policySchema.parse({}) });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['web', 'new2']]);
    // Without the older libvirt, the emptier host would have been chosen: the rule changed the decision.
    const same = await plan(cluster({}), { config: policySchema.parse({}) });
    expect(same.moves.map((m) => [m.vmName, m.to])).toEqual([['web', 'old']]);
  });

  it('with only older hosts left, the drain holds the VM and plan says why, naming the VM, both hosts and both versions', async () => {
    const s = cluster({ hypervisorVersion: Q9_2 });
    s.hosts = s.hosts.map((h) => (h.name === 'new2' ? { ...h, up: false } : h));
    const p = await plan(s, { config: policySchema.parse({}) });
    expect(p.moves).toEqual([]);
    expect(p.skipped.find((x) => x.vmName === 'web')?.reason).toBe(
      "no eligible target within the hard limits: old runs QEMU 9.2.0, older than new1's QEMU 10.0.0 where web runs (version-monotonic moves: always during maintenance); new2 is down",
    );
  });

  it('outside maintenance the default allows balancing onto an older host; policy.versionMonotonic always refuses it', async () => {
    const s = cluster({ libvirtVersion: V10_0 }, false);
    // new1 hot, old and new2 cool: balancing moves a VM off new1.
    s.hosts = s.hosts.map((h) => (h.name === 'new2' ? { ...h, up: false } : h));
    s.vms = [vm('a', 'new1', 0.5, { vcpus: 4 }), vm('b', 'new1', 0.45, { vcpus: 4 })];
    const hot = state(s.hosts, s.vms);
    const free = await plan(hot, { config: policySchema.parse({}) });
    expect(free.moves.map((m) => m.to)).toEqual(['old']);
    const held = await plan(hot, { config: policySchema.parse({ versionMonotonic: 'always' }) });
    expect(held.moves).toEqual([]);
    expect(held.skipped.map((x) => x.reason)).toContain(
      "no eligible target: old runs libvirt 10.0.0, older than new1's libvirt 11.3.0 where a runs (version-monotonic moves: policy.versionMonotonic always); new2 is down",
    );
  });

  it('a newer target passes; unknown versions pass', async () => {
    const s = cluster({ libvirtVersion: 12_000_000, hypervisorVersion: 10_001_000 });
    s.hosts = s.hosts.map((h) => (h.name === 'new2' ? { ...h, up: false } : h));
    expect((await plan(s, { config: policySchema.parse({}) })).moves.map((m) => m.to)).toEqual(['old']);
    const unknown = cluster({ libvirtVersion: undefined, hypervisorVersion: undefined });
    unknown.hosts = unknown.hosts.map((h) => (h.name === 'new2' ? { ...h, up: false } : h));
    expect((await plan(unknown, { config: policySchema.parse({}) })).moves.map((m) => m.to)).toEqual(['old']);
  });

  it('place-style judging and an operator move from a host in maintenance are refused the same way', async () => {
    const s = cluster({ libvirtVersion: V10_0 });
    const web = s.vms.find((v) => v.name === 'web')!;
    const verdicts = await judgeTargets(web, s, { mustMove: true });
    expect(verdicts.find((v) => v.host === 'old')).toMatchObject({
      accepted: false,
      reason: "old runs libvirt 10.0.0, older than new1's libvirt 11.3.0 where web runs (version-monotonic moves: always during maintenance)",
    });
    expect(await planRequestedMove(s, { vmUuid: web.uuid, to: 'old', reason: 'operator' })).toEqual({
      refused: "old runs libvirt 10.0.0, older than new1's libvirt 11.3.0 where web runs (version-monotonic moves: always during maintenance)",
      hardLimit: true,
    });
    // Out of maintenance, with the default, the operator may send it there.
    const out = cluster({ libvirtVersion: V10_0 }, false);
    expect('move' in (await planRequestedMove(out, { vmUuid: web.uuid, to: 'old', reason: 'operator' }))).toBe(true);
  });

  it('config refuses an unknown mode, naming the field', () => {
    const r = policySchema.safeParse({ versionMonotonic: 'never' });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues[0].path)).toBe('["versionMonotonic"]');
  });
});
