/**
 * Affinity and anti-affinity groups from config (policy.affinityGroups) and from VM tags
 * `group:NAME` (anti-affinity) / `affinity:NAME`. Anti-affinity: never two members on one host.
 * Affinity: members go to a host that already runs another member, when one does.
 */
import { definePolicy, type PolicyContext, type VmObservation } from '../src/policy/api.js';

interface Group {
  name: string;
  type: 'affinity' | 'anti-affinity';
  members: (vm: VmObservation) => boolean;
}

const cache = new WeakMap<object, Group[]>();

function groups(ctx: PolicyContext): Group[] {
  const cached = cache.get(ctx.state);
  if (cached) return cached;
  const out: Group[] = ctx.config.affinityGroups.map((g) => ({ name: g.name, type: g.type, members: (vm: VmObservation) => g.vms.includes(vm.name) }));
  const tagNames = new Set(ctx.state.vms.flatMap((v) => v.tags));
  for (const tag of tagNames) {
    if (tag.startsWith('group:')) out.push({ name: tag.slice(6), type: 'anti-affinity', members: (vm) => vm.tags.includes(tag) });
    if (tag.startsWith('affinity:')) out.push({ name: tag.slice(9), type: 'affinity', members: (vm) => vm.tags.includes(tag) });
  }
  cache.set(ctx.state, out);
  return out;
}

/** Projected placement: a member planned to move (or migrating now) counts on its new host. */
function placeOf(ctx: PolicyContext, vm: VmObservation): string {
  if (ctx.projected(vm.host)?.vmUuids.has(vm.uuid)) return vm.host;
  return ctx.state.hosts.find((h) => ctx.projected(h.name)?.vmUuids.has(vm.uuid))?.name ?? vm.host;
}

function hostsOf(ctx: PolicyContext, group: Group, except: VmObservation): Set<string> {
  const hosts = new Set<string>();
  for (const vm of ctx.state.vms) {
    if (vm.uuid === except.uuid || !group.members(vm)) continue;
    hosts.add(placeOf(ctx, vm));
  }
  return hosts;
}

export default definePolicy({
  name: 'affinity',
  description: 'Keep affinity groups together and anti-affinity groups apart',
  select(ctx) {
    const candidates = [];
    for (const group of groups(ctx)) {
      if (group.type !== 'anti-affinity') continue;
      const seen = new Map<string, VmObservation>();
      for (const vm of ctx.state.vms.filter(group.members)) {
        const place = placeOf(ctx, vm);
        if (seen.has(place)) candidates.push({ vm, reason: `anti-affinity group ${group.name}: shares ${place} with ${seen.get(place)!.name}`, mustMove: true });
        else seen.set(place, vm);
      }
    }
    return candidates;
  },
  filter(vm, host, ctx) {
    for (const group of groups(ctx)) {
      if (!group.members(vm)) continue;
      const others = hostsOf(ctx, group, vm);
      if (group.type === 'anti-affinity' && others.has(host.name)) return `anti-affinity group ${group.name} already has a member on ${host.name}`;
      if (group.type === 'affinity' && others.size > 0 && !others.has(host.name)) return `affinity group ${group.name} lives on ${[...others].join(', ')}`;
    }
    return true;
  },
});
