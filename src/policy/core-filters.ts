/**
 * The engine's own filters: limits no configuration may switch off, asked before any policy for
 * every target (cheap: lookups in the projection and the VM's history). Each rule lives here or in
 * a policy, never both: a down or maintenance host is never a target; a host that cannot run the
 * VM at all (too few CPUs, pinning or NUMA nodes it lacks, CPU features it lacks: hard-limits.ts) is
 * never one; and memory placed, hugepages and vCPUs are never overcommitted beyond the host's
 * ratios, whatever policies config enables.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import type { ProjectedHost } from './api.js';
import { cpuRefusal, placedMemoryRefusal, topologyRefusal, vcpusRefusal, versionRefusal, versionRuleApplies } from './hard-limits.js';
import { hugepageShortfall, ordinaryMemoryBytes } from './memory-fit.js';

const MiB = 2 ** 20;

type Failure = NonNullable<ClusterState['recentFailures']>[number];
type RecentMove = ClusterState['recentMoves'][number];

/** The decision history plan() reads, grouped by VM once per plan. */
export class HistoryIndex {
  private readonly failuresByVm = new Map<string, Failure[]>();
  private readonly movesByVm = new Map<string, RecentMove[]>();

  constructor(
    private readonly state: ClusterState,
    private readonly config: PolicyConfig,
    private readonly nowMs: number,
  ) {
    // Failures in order, so the newest per target wins; moves oldest first, the first match kept.
    for (const f of state.recentFailures ?? []) {
      const list = this.failuresByVm.get(f.vmUuid);
      if (list) list.push(f);
      else this.failuresByVm.set(f.vmUuid, [f]);
    }
    for (const m of state.recentMoves) {
      const list = this.movesByVm.get(m.vmUuid);
      if (list) list.push(m);
      else this.movesByVm.set(m.vmUuid, [m]);
    }
  }

  /**
   * Why the VM is still in its cooldown, or undefined. Storm control: the cooldown is
   * policy.cooldownSeconds x cooldownGrowth.factor^(n-1) for n moves of the VM within
   * cooldownGrowth.windowSeconds (at most maxSeconds), so a VM that keeps being moved waits longer
   * each time, and one left alone for the window is back to cooldownSeconds (the OpenShift
   * descheduler's history-based cooldown, cluster-kube-descheduler-operator#1881).
   */
  cooldown(vm: VmObservation): string | undefined {
    const movedAt = this.state.lastMovedAtMs[vm.uuid];
    if (movedAt === undefined) return undefined;
    const seconds = this.cooldownSecondsOf(vm, movedAt);
    if (this.nowMs - movedAt >= seconds * 1000) return undefined;
    const base = this.config.cooldownSeconds;
    const grown =
      seconds > base ? ` (grown from ${base} s: moved ${this.movesInWindow(vm, movedAt)} times within ${this.config.cooldownGrowth.windowSeconds} s)` : '';
    return `moved ${((this.nowMs - movedAt) / 1000).toFixed(0)} s ago; cooldown ${Math.round(seconds)} s${grown}`;
  }

  /** The VM's moves within the growth window before its last one, counting that one (at least 1). */
  private movesInWindow(vm: VmObservation, movedAt: number): number {
    const since = movedAt - this.config.cooldownGrowth.windowSeconds * 1000;
    const recent = (this.movesByVm.get(vm.uuid) ?? []).filter((m) => m.atMs > since && m.atMs <= movedAt).length;
    return Math.max(1, recent);
  }

  /** The cooldown after the VM's last move, seconds (cooldownSeconds grown by its recent moves). */
  cooldownSecondsOf(vm: VmObservation, movedAt: number): number {
    const { factor, maxSeconds } = this.config.cooldownGrowth;
    const base = this.config.cooldownSeconds;
    if (factor === 1 || base === 0) return base;
    return Math.min(Math.max(base, maxSeconds), base * factor ** (this.movesInWindow(vm, movedAt) - 1));
  }

  /** This VM's recent failures (newest per target) and the hosts it left lately, by host name. */
  of(vm: VmObservation): VmHistory {
    const failures = new Map<string, Failure>();
    for (const f of this.failuresByVm.get(vm.uuid) ?? []) if (this.nowMs - f.atMs < this.config.retryAfterFailureSeconds * 1000) failures.set(f.to, f);
    const left = new Map<string, RecentMove>();
    for (const m of this.movesByVm.get(vm.uuid) ?? []) if (!left.has(m.from) && this.nowMs - m.atMs < this.config.cooldownSeconds * 3000) left.set(m.from, m);
    return { failureTo: (host) => failures.get(host), leftAt: (host) => left.get(host) };
  }
}

export interface VmHistory {
  /** A recent failed move of the VM to this host, within policy.retryAfterFailureSeconds. */
  failureTo(host: string): Failure | undefined;
  /** A recent move of the VM away from this host, within three cooldowns. */
  leftAt(host: string): RecentMove | undefined;
}

export interface CoreFilterInput {
  vm: VmObservation;
  /** The host the VM is on; undefined for a VM not yet placed (`place`). */
  source: HostObservation | undefined;
  target: HostObservation;
  /** Every host of the state (a host of a guest's CPU model stands in for it where models are unknown). */
  hosts: readonly HostObservation[];
  projected: ProjectedHost;
  mustMove: boolean;
  history: VmHistory;
  config: PolicyConfig;
  nowMs: number;
  /** Why this move breaks the failover headroom (policy.headroom; Planning.headroomRefusal), asked only when it is kept. */
  headroom?: () => string | undefined;
}

export interface CoreFilter {
  name: string;
  description: string;
  /** true, or why the target is refused. */
  filter(input: CoreFilterInput): true | string;
}

export const CORE_FILTERS: readonly CoreFilter[] = [
  {
    name: 'host-up',
    description: 'a host that cannot be reached is never a target',
    // A host down on purpose (power:) says so ("is standby since ... (power action ...)"), not "is down".
    filter: ({ target }) =>
      target.up
        ? true
        : target.power && target.downReason
          ? `${target.name} is ${target.downReason}`
          : `${target.name} is down${target.downReason ? ` (${target.downReason})` : ''}`,
  },
  {
    name: 'not-in-standby',
    description: 'a host being powered down, in standby or being woken (power:) is never a target; it is woken first',
    filter: ({ target }) => (target.power ? `${target.name} is ${target.power === 'powering-off' ? 'being powered down' : target.power}` : true),
  },
  {
    name: 'not-in-maintenance',
    description: 'a host in maintenance is never a target (the maintenance policy evacuates it)',
    filter: ({ target }) => (target.maintenance ? `${target.name} is in maintenance` : true),
  },
  {
    name: 'vcpus',
    description: "a VM's vCPUs never exceed the target's logical CPUs",
    filter: ({ vm, target }) => vcpusRefusal(vm, target) ?? true,
  },
  {
    name: 'cpu-topology',
    description: 'a VM pinned to host CPUs (<cputune>, <vcpu cpuset>) or NUMA nodes (<numatune>) goes only where those exist',
    filter: ({ vm, target }) => topologyRefusal(vm, target) ?? true,
  },
  {
    name: 'cpu-compat',
    description:
      "the target offers every CPU feature the VM's guest CPU needs and can run its CPU model (libvirt's domain capabilities), never judged by model name alone",
    filter: ({ vm, source, target, hosts }) => cpuRefusal(vm, source, target, hosts) ?? true,
  },
  {
    name: 'version-monotonic',
    description:
      'a VM never moves to a host with an older libvirt or QEMU than its own host: always when its host is in maintenance (drain, rolling upgrade), on every move with policy.versionMonotonic always',
    filter: ({ vm, source, target, config }) =>
      source && versionRuleApplies(source, config.versionMonotonic) ? (versionRefusal(vm, source, target) ?? true) : true,
  },
  {
    name: 'capacity',
    description:
      'guest memory placed (the configured memory of the VMs there, planned moves included) and memory in use each up to memoryTotal x memoryOvercommitRatio (hugepage-backed VMs: free pages of their size), vCPUs up to cpuCount x cpuOvercommitRatio',
    filter: ({ vm, target, projected: p }) => {
      const memoryLimit = target.memoryTotalBytes * target.memoryOvercommitRatio;
      if (p.memoryUsedBytes + ordinaryMemoryBytes(vm) > memoryLimit) {
        return `${target.name} lacks memory (${Math.max(0, (memoryLimit - p.memoryUsedBytes) / MiB).toFixed(0)} MiB free, ${vm.name} needs ${(ordinaryMemoryBytes(vm) / MiB).toFixed(0)} MiB)`;
      }
      // Node statistics count what guests use now; the limit is on what they were given.
      const placed = placedMemoryRefusal(vm, target, p);
      if (placed) return placed;
      const pagesShort = hugepageShortfall(vm, p);
      if (pagesShort) return pagesShort;
      if (p.vcpus + vm.vcpus > target.cpuCount * target.cpuOvercommitRatio) {
        return `${target.name} would exceed its vCPU overcommit (${p.vcpus + vm.vcpus} vCPUs, limit ${target.cpuCount * target.cpuOvercommitRatio})`;
      }
      return true;
    },
  },
  {
    name: 'headroom',
    description:
      'with policy.headroom, a move or placement after which the VMs of a host (any one, or the N holding most) no longer fit on the rest is refused; must-moves (drains, rule repairs) are not held by it',
    filter: ({ mustMove, config, headroom }) => (mustMove || config.headroom.hostFailures <= 0 || !headroom ? true : (headroom() ?? true)),
  },
  {
    name: 'retry-after-failure',
    description: 'a target a move of this VM failed to lately is not tried again before policy.retryAfterFailureSeconds',
    filter: ({ vm, target, history, config, nowMs }) => {
      const failed = history.failureTo(target.name);
      if (!failed) return true;
      return `a move of ${vm.name} to ${target.name} ended ${failed.outcome} ${((nowMs - failed.atMs) / 1000).toFixed(0)} s ago${failed.error ? ` (${failed.error.slice(0, 120)})` : ''}; retried after ${config.retryAfterFailureSeconds} s`;
    },
  },
  {
    name: 'no-ping-pong',
    description: 'a VM does not go back to a host it left within three cooldowns (must-moves excepted)',
    filter: ({ vm, target, mustMove, history, nowMs }) => {
      const back = !mustMove && history.leftAt(target.name);
      return back ? `${vm.name} left ${target.name} ${((nowMs - back.atMs) / 1000).toFixed(0)} s ago (no ping-pong)` : true;
    },
  },
];

/**
 * Names config may still list under policy.policies from when the rule was a policy (`capacity`,
 * `cpu-compat`):
 * accepted and skipped by the loader, since the core filter always applies.
 */
export const FORMER_POLICY_CORE_FILTERS: ReadonlySet<string> = new Set(['capacity', 'cpu-compat']);

/** The first core filter that refuses the target: its name and reason; undefined when all pass. */
export function coreRefusal(input: CoreFilterInput): { filter: string; reason: string } | undefined {
  for (const f of CORE_FILTERS) {
    const verdict = f.filter(input);
    if (verdict !== true) return { filter: f.name, reason: verdict };
  }
  return undefined;
}
