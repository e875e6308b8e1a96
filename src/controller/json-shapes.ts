/**
 * The JSON shapes of what the operator sees: the CLI's `--json` output and the HTTP API's answers
 * are the same objects, so a script can move from one to the other.
 */
import type { ClusterState } from '../cluster/model.js';
import type { RecommendationView } from '../executor/recommendations.js';
import type { Plan } from '../policy/index.js';
import type { HostVerdict } from '../policy/place.js';
import type { PowerPlan } from '../power/manager.js';

/** The JSON `status --json` prints: each host with its VMs. */
export function statusJson(state: ClusterState) {
  return {
    hosts: state.hosts.map((h) => ({
      name: h.name,
      uri: h.uri,
      up: h.up,
      ...(h.up ? {} : { downReason: h.downReason }),
      // Down on purpose (config power:): being powered down, standby or being woken; not an alarm.
      ...(h.power ? { power: h.power } : {}),
      cpuUtilization: h.cpuUtilization.mean,
      memoryUsedBytes: h.memoryUsedBytes,
      memoryTotalBytes: h.memoryTotalBytes,
      vms: state.vms
        .filter((v) => v.host === h.name)
        .map((v) => ({ name: v.name, uuid: v.uuid, vcpus: v.vcpus, cpuUtilization: v.cpuUtilization.mean, memoryBytes: v.memoryBytes, state: v.state })),
    })),
  };
}

/** The JSON shape of one recommendation (`recommendations --json`). */
export function recommendationJson(r: RecommendationView) {
  return {
    id: r.id,
    status: r.status,
    kind: r.kind,
    vm: r.move.vmName,
    from: r.move.from,
    to: r.move.to,
    technique: r.move.technique,
    predicted: { totalSeconds: r.move.predicted.totalSeconds, downtimeMs: r.move.predicted.downtimeMs },
    reason: r.move.reason,
    createdAt: new Date(r.createdAtMs).toISOString(),
    expiresAt: new Date(r.expiresAtMs).toISOString(),
    ...(r.resolution ? { resolution: { at: new Date(r.resolution.atMs).toISOString(), by: r.resolution.by, detail: r.resolution.detail } } : {}),
  };
}

/** The answer as `place --json` prints it. */
export function placeJson(verdicts: HostVerdict[]) {
  const best = verdicts.find((v) => v.accepted);
  return {
    host: best?.host ?? null,
    hosts: verdicts.map((v) => ({
      host: v.host,
      accepted: v.accepted,
      ...(v.accepted ? { score: Number(v.score!.toFixed(4)) } : { reason: v.reason }),
      cpuAfterPercent: v.cpuAfterRatio === undefined ? null : Number((v.cpuAfterRatio * 100).toFixed(1)),
      memoryAfterPercent: v.memoryAfterRatio === undefined ? null : Number((v.memoryAfterRatio * 100).toFixed(1)),
    })),
  };
}

/**
 * Each host's reachability as a plan reports it: a script must not read "no moves" as "balanced"
 * when hosts were not read. `power` is set for a host a power action has down on purpose (standby...).
 */
export function hostStatus(state: Pick<ClusterState, 'hosts'>): { host: string; up: boolean; downReason?: string; power?: string }[] {
  return state.hosts.map((h) => ({
    host: h.name,
    up: h.up,
    ...(h.up ? {} : { downReason: h.downReason ?? 'unreachable' }),
    ...(h.power ? { power: h.power } : {}),
  }));
}

/** The plan as `plan --json` prints it; `state` adds each host's status, `power` the planned power actions. */
export function planJson(p: Plan, state?: Pick<ClusterState, 'hosts'>, power?: PowerPlan) {
  return {
    ...(state ? { hosts: hostStatus(state) } : {}),
    ...(power ? { power: { actions: power.actions, held: power.held } } : {}),
    moves: p.moves.map((m) => ({
      vm: m.vmName,
      from: m.from,
      to: m.to,
      technique: m.technique,
      predicted: { totalSeconds: m.predicted.totalSeconds, downtimeMs: m.predicted.downtimeMs, bytes: m.predicted.bytes },
      // What the prediction assumed: measured on recent migrations between the two hosts, or configured.
      assumed: { bandwidthMiBps: m.inputs.bandwidthMiBps, bandwidthMeasured: m.inputs.bandwidthMeasured ?? false, dirtyRateMiBps: m.inputs.dirtyRateMiBps },
      reason: m.reason,
    })),
    skipped: p.skipped.map((s) => ({ vm: s.vmName, reason: s.reason })),
    notices: p.notices ?? [],
    imbalanceBefore: p.imbalanceBefore,
    imbalanceAfter: p.imbalanceAfter,
    policyErrors: p.policyErrors,
    // Not empty: the plan is incomplete (what those calls would have nominated or allowed is missing).
    complete: (p.timeouts ?? []).length === 0,
    timeouts: p.timeouts ?? [],
  };
}
