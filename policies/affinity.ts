/**
 * Affinity and anti-affinity groups from config (policy.affinityGroups) and from VM tags
 * `group:NAME` (anti-affinity) / `affinity:NAME`. Enforced both ways: as a filter on every move,
 * and by selecting current violations as must-moves (an anti-affinity pair on one host: all but one
 * leave; an affinity group split over hosts: the members away from its home host go there). The
 * home of an affinity group is the host with most of its members (ties: the first by name).
 *
 * Members count in every libvirt state, where they are defined: a shut-off member starts on its
 * host (`virsh start`), so it would share that host with the others. Of an anti-affinity group's
 * members on one host, the one that stays is the one dearest to move (docs/policies.md "VM
 * states"): one libvirt state keeps from moving (crashed, pmsuspended) before a running one, a
 * running one before a paused one (a paused guest copies once, with no service to disturb), a
 * paused one before a shut-off one (a cold move carries only its definition), unless the shut-off
 * one has local disks, which a cold move cannot carry.
 */
import { definePolicy, type PolicyContext, type VmObservation } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

interface Group {
  name: string;
  type: 'affinity' | 'anti-affinity';
  members: VmObservation[];
}

const cache = new WeakMap<object, { groups: Group[]; byVm: Map<string, Group[]> }>();

/** Groups with their members, built once per plan (the state object is the plan's). */
function groups(ctx: PolicyContext): { groups: Group[]; byVm: Map<string, Group[]> } {
  const cached = cache.get(ctx.state);
  if (cached) return cached;
  const out: Group[] = [];
  // Only when config names groups: a map of every VM by name costs at 100,000s of VMs.
  const byName = ctx.config.affinityGroups.length > 0 ? new Map(ctx.state.vms.map((v) => [v.name, v])) : new Map<string, VmObservation>();
  for (const g of ctx.config.affinityGroups) {
    out.push({ name: g.name, type: g.type, members: g.vms.map((n) => byName.get(n)).filter((v): v is VmObservation => v !== undefined) });
  }
  const tagged = new Map<string, Group>();
  for (const vm of ctx.state.vms) {
    for (const tag of vm.tags) {
      const type = tag.startsWith('group:') ? 'anti-affinity' : tag.startsWith('affinity:') ? 'affinity' : undefined;
      if (!type) continue;
      let group = tagged.get(tag);
      if (!group) {
        group = { name: tag.slice(tag.indexOf(':') + 1), type, members: [] };
        tagged.set(tag, group);
        out.push(group);
      }
      group.members.push(vm);
    }
  }
  const byVm = new Map<string, Group[]>();
  for (const group of out) for (const vm of group.members) byVm.set(vm.uuid, [...(byVm.get(vm.uuid) ?? []), group]);
  const built = { groups: out, byVm };
  cache.set(ctx.state, built);
  return built;
}

/** How strongly a member of an anti-affinity group sharing a host should be the one that stays (higher stays). */
function stayRank(vm: VmObservation): number {
  switch (vm.state) {
    case 'shutoff':
      // With local disks a shut-off VM cannot move cold (libvirt's offline migration leaves them; chooser.ts).
      return vm.localDiskBytes > 0 ? 3 : 0;
    case 'paused':
      return 1;
    case 'running':
    case 'blocked':
      return 2;
    default:
      return 3; // crashed, pmsuspended, other: the engine does not move them (candidates.ts howItMoves)
  }
}

/** Projected placement: a member planned to move (or migrating now) counts on its new host. */
function placeOf(ctx: PolicyContext, vm: VmObservation): string {
  return ctx.placeOf(vm.uuid) ?? vm.host;
}

/** Members per host, except one VM. */
function hostCounts(ctx: PolicyContext, group: Group, except?: VmObservation): Map<string, number> {
  const counts = new Map<string, number>();
  for (const vm of group.members) {
    if (vm.uuid === except?.uuid) continue;
    const place = placeOf(ctx, vm);
    counts.set(place, (counts.get(place) ?? 0) + 1);
  }
  return counts;
}

/** The host with most members (ties: first by name). */
function home(counts: Map<string, number>): string | undefined {
  let best: string | undefined;
  for (const [host, n] of counts) if (best === undefined || n > counts.get(best)! || (n === counts.get(best)! && host < best)) best = host;
  return best;
}

export default registerBuiltinPolicy(
  definePolicy({
    name: 'affinity',
    description: 'Keep affinity groups together and anti-affinity groups apart; repair current violations',
    select(ctx) {
      const candidates = [];
      for (const group of groups(ctx).groups) {
        if (group.type === 'anti-affinity') {
          // The member that stays on each shared host: dearest to move, then first in the group.
          const stays = new Map<string, VmObservation>();
          for (const vm of group.members) {
            const place = placeOf(ctx, vm);
            const current = stays.get(place);
            if (!current || stayRank(vm) > stayRank(current)) stays.set(place, vm);
          }
          for (const vm of group.members) {
            const stayer = stays.get(placeOf(ctx, vm))!;
            if (stayer !== vm)
              candidates.push({ vm, reason: `anti-affinity group ${group.name}: shares ${placeOf(ctx, vm)} with ${stayer.name}`, mustMove: true });
          }
        } else {
          const counts = hostCounts(ctx, group);
          if (counts.size < 2) continue;
          const target = home(counts)!;
          const split = [...counts.keys()].sort().join(', ');
          for (const vm of group.members) {
            if (placeOf(ctx, vm) !== target)
              candidates.push({ vm, reason: `affinity group ${group.name}: split over ${split}; rejoins the others on ${target}`, mustMove: true });
          }
        }
      }
      return candidates;
    },
    filter(vm, host, ctx) {
      for (const group of groups(ctx).byVm.get(vm.uuid) ?? []) {
        const others = hostCounts(ctx, group, vm);
        if (group.type === 'anti-affinity' && others.has(host.name)) return `anti-affinity group ${group.name} already has a member on ${host.name}`;
        if (group.type === 'affinity' && others.size > 0) {
          const target = home(others)!;
          if (host.name !== target) return `affinity group ${group.name} lives on ${target}`;
        }
      }
      return true;
    },
  }),
);
