/**
 * Affinity, anti-affinity and spread groups from config (policy.affinityGroups) and from VM tags
 * `group:NAME` (anti-affinity) / `affinity:NAME`. A spread group (config only) keeps its members as
 * evenly as the domains allow, over hosts or a label's domains: no usable domain holds more than
 * one member above the emptiest (max skew 1, as Kubernetes' topologySpreadConstraints), so a group
 * larger than the domains (6 web VMs over 3 racks) loses at most its share with one domain;
 * members of a domain over the skew are must-moves to the emptiest, and no move makes it worse. A config anti-affinity group with `scope: LABEL`
 * keeps its members apart over a failure domain (hosts sharing the label's value: a rack, a power
 * supply, a zone) instead of over hosts (Ganeti's location tags). Enforced both ways: as a filter on every move,
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
 *
 * A keep-together group is re-homed as one unit (issue 24). Its home is only ever a host it may
 * stay on (up, not in maintenance, not in a power action): when every member is on a host it must
 * leave (maintenance, `drain`, power-off), the group's new home is the host that can hold all of
 * its members (memory and vCPUs within the overcommit ratios, as planned so far; most memory left
 * first), and every member goes there, in this plan or the next ones. A group that no single
 * host can hold is said once in the plan (a notice naming the group, its size and the hosts'
 * room) and moved as a best effort: each member to the host that already holds most of the group
 * and has room for it.
 */
import { definePolicy, ordinaryMemoryBytes, type HostObservation, type PolicyContext, type VmObservation, unknownOptionProblems } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';
import { vmOverrides } from '../src/policy/vm-overrides.js';

interface Group {
  name: string;
  type: 'affinity' | 'anti-affinity' | 'spread';
  members: VmObservation[];
  /** Anti-affinity over a host label (failure domain: `rack`, `psu`, `zone`) instead of over hosts. */
  scope?: string;
}

/**
 * The failure domain of a host for a group: the value of the group's label on it (`rack a`), or
 * the host itself without a scope. A host without the label is a domain of its own: it shares a
 * rack with nothing config says.
 */
function domainOf(ctx: PolicyContext, host: string, scope: string | undefined): string {
  if (!scope) return host;
  const value = ctx.host(host)?.labels[scope];
  return value === undefined ? `host ${host} (no ${scope} label)` : `${scope} ${value}`;
}

const cache = new WeakMap<object, { config: object; groups: Group[]; byVm: Map<string, Group[]> }>();

/**
 * Groups with their members, built once per plan (the state object is the plan's; the config's
 * too: one observed state may be planned or judged under several configs, as `place` and tests do).
 */
function groups(ctx: PolicyContext): { groups: Group[]; byVm: Map<string, Group[]> } {
  const cached = cache.get(ctx.state);
  if (cached && cached.config === ctx.config) return cached;
  const out: Group[] = [];
  // Only when config names groups: a map of every VM by name costs at 100,000s of VMs.
  const byName = ctx.config.affinityGroups.length > 0 ? new Map(ctx.state.vms.map((v) => [v.name, v])) : new Map<string, VmObservation>();
  for (const g of ctx.config.affinityGroups) {
    out.push({
      name: g.name,
      type: g.type,
      scope: g.scope,
      members: g.vms.map((n) => byName.get(n)).filter((v): v is VmObservation => v !== undefined),
    });
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
  // A group of one member (a new group's first VM in `place`, a typo, a config group whose other
  // VMs are gone) has no one to be with or apart from: no rule, no invented home.
  const real = out.filter((g) => g.members.length >= 2);
  const byVm = new Map<string, Group[]>();
  for (const group of real) for (const vm of group.members) byVm.set(vm.uuid, [...(byVm.get(vm.uuid) ?? []), group]);
  const built = { config: ctx.config, groups: real, byVm };
  cache.set(ctx.state, built);
  return built;
}

/**
 * A member that stays running on its host in maintenance by its evacuation override (`never`,
 * `cold` or `shutdown` while it runs): it serves there until an operator acts, so its group stays with it.
 */
function anchoredBy(ctx: PolicyContext, vm: VmObservation): boolean {
  if (!ctx.host(vm.host)?.maintenance || vm.state === 'shutoff') return false;
  const mode = vmOverrides(vm).evacuation;
  // shutdown: it stays running until an operator shuts it down, as never and cold do.
  return mode === 'never' || mode === 'cold' || mode === 'shutdown';
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

/** A host a group may live on: up, not in maintenance, not in a power action. */
function mayStay(ctx: PolicyContext, name: string): boolean {
  const h = ctx.host(name);
  return Boolean(h?.up && !h.maintenance && !h.power);
}

/** The host with most members among those the group may stay on (ties: the first by name). */
function home(ctx: PolicyContext, counts: Map<string, number>): string | undefined {
  let best: string | undefined;
  for (const [host, n] of counts) {
    if (!mayStay(ctx, host)) continue;
    if (best === undefined || n > counts.get(best)! || (n === counts.get(best)! && host < best)) best = host;
  }
  return best;
}

/** Memory (bytes) and vCPUs `vms` need on `host` beyond what it can take (overcommit ratios), as planned so far; both 0 when they fit. */
function shortfall(ctx: PolicyContext, host: HostObservation, vms: readonly VmObservation[]): { memoryBytes: number; vcpus: number } {
  const p = ctx.projected(host.name);
  if (!p) return { memoryBytes: Infinity, vcpus: Infinity };
  const arriving = vms.filter((v) => !p.vmUuids.has(v.uuid));
  const memory = arriving.reduce((s, v) => s + ordinaryMemoryBytes(v), 0);
  const vcpus = arriving.reduce((s, v) => s + v.vcpus, 0);
  return {
    memoryBytes: Math.max(0, p.memoryUsedBytes + memory - host.memoryTotalBytes * host.memoryOvercommitRatio),
    vcpus: Math.max(0, p.vcpus + vcpus - host.cpuCount * host.cpuOvercommitRatio),
  };
}

function fits(ctx: PolicyContext, host: HostObservation, vms: readonly VmObservation[]): boolean {
  const s = shortfall(ctx, host, vms);
  return s.memoryBytes === 0 && s.vcpus === 0;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Memory the host has left (overcommit ratio included), as planned so far. */
const memoryLeft = (ctx: PolicyContext, h: HostObservation) => h.memoryTotalBytes * h.memoryOvercommitRatio - ctx.projected(h.name)!.memoryUsedBytes;

/**
 * Where an affinity group goes, as planned so far: its home (a host it may stay on holding most
 * of it); else, when every member is on a host it must leave, the host that can hold all of them
 * (most memory left, then first by name); else none (`bestEffort`): no single host can hold the
 * group, which is said once in the plan.
 */
function groupHome(ctx: PolicyContext, group: Group): { host?: string; bestEffort: boolean } {
  const counts = hostCounts(ctx, group);
  const existing = home(ctx, counts);
  if (existing) return { host: existing, bestEffort: false };
  const members = group.members;
  const hosts = ctx.state.hosts.filter((h) => mayStay(ctx, h.name));
  const fitting = hosts.filter((h) => fits(ctx, h, members));
  if (fitting.length > 0) {
    fitting.sort((a, b) => memoryLeft(ctx, b) - memoryLeft(ctx, a) || (a.name < b.name ? -1 : 1));
    return { host: fitting[0].name, bestEffort: false };
  }
  // No host at all to go to: the engine says so for every VM at once; a best effort would move nothing.
  if (hosts.length === 0) return { bestEffort: true };
  const memory = members.reduce((s, v) => s + ordinaryMemoryBytes(v), 0);
  const vcpus = members.reduce((s, v) => s + v.vcpus, 0);
  const room = hosts
    .map((h) => {
      const s = shortfall(ctx, h, members);
      return `${h.name} short of ${[s.memoryBytes > 0 ? gib(s.memoryBytes) : '', s.vcpus > 0 ? `${s.vcpus} vCPUs` : ''].filter(Boolean).join(' and ')}`;
    })
    .join(', ');
  ctx.notice(
    `affinity group ${group.name} (${members.length} VMs, ${gib(memory)}, ${vcpus} vCPUs) must leave ${[...counts.keys()].sort().join(', ')} and fits on no single host (${room}): its members move as a best effort, each to the host holding most of the group that has room for it, and the group stays split until one host has room`,
  );
  return { bestEffort: true };
}

/** Best effort for a member of a group no host can hold: the host with most of the group (then most memory left) that has room for it. */
function bestEffortTarget(ctx: PolicyContext, group: Group, vm: VmObservation): string | undefined {
  const counts = hostCounts(ctx, group, vm);
  const open = ctx.state.hosts.filter((h) => h.name !== placeOf(ctx, vm) && mayStay(ctx, h.name) && fits(ctx, h, [vm]));
  open.sort((a, b) => (counts.get(b.name) ?? 0) - (counts.get(a.name) ?? 0) || memoryLeft(ctx, b) - memoryLeft(ctx, a) || (a.name < b.name ? -1 : 1));
  return open[0]?.name;
}

/**
 * Domains a spread group may use: those of hosts that are up, out of maintenance and not in a
 * power action; with a scope, only hosts that carry the label (as Kubernetes' topology spread
 * skips nodes without the key): a host added without it would otherwise be an empty domain of
 * its own, pulling a member off every rack onto it.
 */
function spreadDomains(ctx: PolicyContext, group: Group): Set<string> {
  return new Set(
    ctx.state.hosts
      .filter((h) => mayStay(ctx, h.name) && (group.scope === undefined || h.labels[group.scope] !== undefined))
      .map((h) => domainOf(ctx, h.name, group.scope)),
  );
}

/** Members per domain of a spread group (planned moves counted where they go), except one VM; every usable domain listed. */
function spreadCounts(ctx: PolicyContext, group: Group, except?: VmObservation): Map<string, number> {
  const counts = new Map<string, number>([...spreadDomains(ctx, group)].map((d) => [d, 0]));
  for (const vm of group.members) {
    if (vm.uuid === except?.uuid) continue;
    const d = domainOf(ctx, placeOf(ctx, vm), group.scope);
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  return counts;
}

/** The fewest members a usable domain holds (0 when none are usable). */
function fewest(ctx: PolicyContext, group: Group, counts: Map<string, number>): { domain?: string; count: number } {
  let best: { domain?: string; count: number } = { count: 0 };
  const usable = spreadDomains(ctx, group);
  for (const [d, n] of counts)
    if (usable.has(d) && (best.domain === undefined || n < best.count || (n === best.count && d < best.domain))) best = { domain: d, count: n };
  return best;
}

const overWhat = (group: Group) => (group.scope ? group.scope : 'hosts');

export default registerBuiltinPolicy(
  definePolicy({
    name: 'affinity',
    // Takes no options: a typo meant for another policy is refused when it loads.
    checkOptions: (options) => unknownOptionProblems(options, []),
    description: 'Keep affinity groups together and anti-affinity groups apart; repair current violations',
    select(ctx) {
      const candidates = [];
      for (const group of groups(ctx).groups) {
        if (group.type === 'anti-affinity') {
          // The member that stays on each shared host: dearest to move, then first in the group.
          // Per failure domain (the host, or the group's label's value on it).
          const stays = new Map<string, VmObservation>();
          for (const vm of group.members) {
            const domain = domainOf(ctx, placeOf(ctx, vm), group.scope);
            const current = stays.get(domain);
            if (!current || stayRank(vm) > stayRank(current)) stays.set(domain, vm);
          }
          for (const vm of group.members) {
            const domain = domainOf(ctx, placeOf(ctx, vm), group.scope);
            const stayer = stays.get(domain)!;
            if (stayer !== vm)
              candidates.push({
                vm,
                reason: group.scope
                  ? `anti-affinity group ${group.name} over ${group.scope}: shares ${domain} with ${stayer.name} (on ${placeOf(ctx, stayer)})`
                  : `anti-affinity group ${group.name}: shares ${placeOf(ctx, vm)} with ${stayer.name}`,
                mustMove: true,
              });
          }
        } else if (group.type === 'spread') {
          // Max skew 1: while the fullest domain holds two or more above the emptiest usable one,
          // a member of it moves (the one cheapest to move: the reverse of who stays in anti-affinity).
          // Greedy on a copy of the counts: one member off the fullest domain into the emptiest
          // usable one, again while they differ by more than one ([2,2,0] takes one move, not two).
          const counts = spreadCounts(ctx, group);
          const nominated = new Set<string>();
          for (;;) {
            const low = fewest(ctx, group, counts);
            let full: [string, number] | undefined;
            for (const [d, n] of counts) if (!full || n > full[1] || (n === full[1] && d < full[0])) full = [d, n];
            if (low.domain === undefined || !full || full[1] - low.count <= 1) break;
            const [domain, n] = full;
            const vm = group.members
              .filter((m) => !nominated.has(m.uuid) && domainOf(ctx, placeOf(ctx, m), group.scope) === domain)
              .sort((a, b) => stayRank(a) - stayRank(b))[0];
            if (!vm) break;
            nominated.add(vm.uuid);
            counts.set(domain, n - 1);
            counts.set(low.domain, low.count + 1);
            candidates.push({
              vm,
              reason: `spread group ${group.name} over ${overWhat(group)}: ${domain} holds ${n} of its ${group.members.length} members and ${low.domain} ${low.count} (max skew 1)`,
              mustMove: true,
            });
          }
        } else {
          const counts = hostCounts(ctx, group);
          const target = home(ctx, counts);
          if (!target) {
            // Every member on a host it must leave: re-homed as one unit (the must-moves come from
            // maintenance or a drain; the filter sends each to the group's new home). Said once
            // when no host can hold it.
            groupHome(ctx, group);
            continue;
          }
          if (counts.size < 2) continue;
          const split = [...counts.keys()].sort().join(', ');
          // A home without room for them: each is still nominated, and plan names the limit per VM.
          const away = group.members.filter((vm) => placeOf(ctx, vm) !== target);
          for (const vm of away)
            candidates.push({ vm, reason: `affinity group ${group.name}: split over ${split}; rejoins the others on ${target}`, mustMove: true });
        }
      }
      return candidates;
    },
    filter(vm, host, ctx) {
      for (const group of groups(ctx).byVm.get(vm.uuid) ?? []) {
        const others = hostCounts(ctx, group, vm);
        if (group.type === 'anti-affinity') {
          if (!group.scope) {
            if (others.has(host.name)) return `anti-affinity group ${group.name} already has a member on ${host.name}`;
            continue;
          }
          const domain = domainOf(ctx, host.name, group.scope);
          const sharing = group.members.find((m) => m.uuid !== vm.uuid && domainOf(ctx, placeOf(ctx, m), group.scope) === domain);
          if (sharing)
            return `anti-affinity group ${group.name} over ${group.scope} already has a member in ${domain} (${sharing.name} on ${placeOf(ctx, sharing)})`;
          continue;
        }
        if (group.type === 'spread') {
          if (group.scope !== undefined && host.labels[group.scope] === undefined)
            return `spread group ${group.name} spreads over ${group.scope}, which ${host.name} has no label for`;
          const counts = spreadCounts(ctx, group, vm);
          const domain = domainOf(ctx, host.name, group.scope);
          const low = fewest(ctx, group, counts);
          const after = (counts.get(domain) ?? 0) + 1;
          const from = domainOf(ctx, placeOf(ctx, vm), group.scope);
          if (domain === from) {
            // Within its domain nothing changes: allowed, unless that domain holds too many (the
            // member is to leave it, not to move inside it).
            if (after - low.count > 1)
              return `spread group ${group.name} over ${overWhat(group)}: ${domain} already holds ${after} of its ${group.members.length} members while ${low.domain} holds ${low.count} (max skew 1); it leaves ${domain}, not moves within it`;
            continue;
          }
          if (after - low.count > 1)
            return `spread group ${group.name} over ${overWhat(group)}: ${domain} would hold ${after} of its ${group.members.length} members while ${low.domain} holds ${low.count} (max skew 1)`;
          continue;
        }
        if (group.type === 'affinity') {
          // A member its evacuation override keeps running on a host in maintenance anchors the
          // group there: moving the rest away would split it for a host that cannot be emptied anyway.
          const anchor = placeOf(ctx, vm) === vm.host ? group.members.find((m) => m.uuid !== vm.uuid && m.host === vm.host && anchoredBy(ctx, m)) : undefined;
          if (anchor) {
            const why = `affinity group ${group.name} stays with ${anchor.name}, which stays on ${anchor.host} (in maintenance; evacuation ${vmOverrides(anchor).evacuation})`;
            ctx.notice(
              `${why}: its members there are not moved, and ${anchor.host} is not emptied while ${anchor.name} is there; change ${anchor.name}'s evacuation or shut it down`,
            );
            return why;
          }
          const target = home(ctx, others);
          if (target) {
            if (host.name === target) continue;
            // A member that must leave its host (maintenance, drain, power-off) and whose group's
            // home has no room for it goes where most of the group is and it fits: best effort.
            if (mayStay(ctx, placeOf(ctx, vm)) || fits(ctx, ctx.host(target)!, [vm])) return `affinity group ${group.name} lives on ${target}`;
            const to = bestEffortTarget(ctx, group, vm);
            if (to && host.name !== to) return `affinity group ${group.name}: its home ${target} has no room for ${vm.name}; best effort: ${to}`;
            continue;
          }
          // No member on a host the group may stay on: it goes where all of it fits, or as a best effort.
          const where = groupHome(ctx, group);
          const to = where.host ?? bestEffortTarget(ctx, group, vm);
          if (to && host.name !== to)
            return where.bestEffort
              ? `affinity group ${group.name} fits on no single host; best effort: ${to} holds most of it and has room`
              : `affinity group ${group.name} moves as one to ${to}, the host with room for all of it`;
        }
      }
      return true;
    },
  }),
);
