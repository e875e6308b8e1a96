/**
 * Approval of a recommendation: is the recommended move still valid against the state observed
 * now? A recommendation made minutes ago may name a VM that moved, stopped or started a job, or a
 * target that went down, entered maintenance, filled up or now breaks a rule. Each such change is
 * said in words, so `approve` can refuse and tell the operator what changed.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import { policySchema, type PolicyConfig } from '../config/policy-schema.js';
import type { LoadedPolicy } from '../policy/loader.js';
import { HistoryIndex } from '../policy/core-filters.js';
import { ordinaryMemoryBytes } from '../policy/memory-fit.js';
import { moveCost } from '../policy/move-cost.js';
import { Objective } from '../policy/objective.js';
import { judgeTargets } from '../policy/place.js';
import type { Recommendation } from './recommendations.js';

/**
 * What changed since the recommendation was made that makes it unsafe or pointless to carry out;
 * empty when it still holds; `state` should carry the decision history (DecisionHistory.forState),
 * as the planner's does. Checks: the VM is still on the source, in a state the technique
 * needs, without a job; the target is up, not in maintenance, and passes the engine's hard limits
 * and every policy filter (soft filters skipped for a must-move, as when it was planned); a
 * balancing move must still reduce the engine's objective by more than its predicted cost
 * (policy.moveCostWeight x the bytes it sends as a share of the source host's memory,
 * src/policy/move-cost.ts), as when it was planned.
 */
export async function whatChanged(
  recommendation: Recommendation,
  state: ClusterState,
  options: { policies?: LoadedPolicy[]; config?: PolicyConfig } = {},
): Promise<string[]> {
  const { move } = recommendation;
  const vm = state.vms.find((v) => v.uuid === move.vmUuid);
  if (!vm) {
    const down = state.hosts.filter((h) => !h.up).map((h) => h.name);
    return [`VM ${move.vmName} is no longer found on any reachable host${down.length ? ` (down: ${down.join(', ')})` : ''}`];
  }
  const changes: string[] = [];
  if (vm.host !== move.from) changes.push(`VM ${vm.name} is now on ${vm.host}, not ${move.from}`);
  const live = move.technique !== 'cold';
  if (live && vm.state !== 'running' && vm.state !== 'blocked' && vm.state !== 'paused')
    changes.push(`VM ${vm.name} is ${vm.state} now (it was planned to move live with ${move.technique})`);
  if (!live && vm.state !== 'shutoff') changes.push(`VM ${vm.name} is ${vm.state} now (it was planned to move cold, shut off)`);
  if (vm.jobRunning || state.inFlight.some((m) => m.vmUuid === vm.uuid)) changes.push(`VM ${vm.name} has a migration or other job running`);
  const target = state.hosts.find((h) => h.name === move.to);
  if (!target) changes.push(`target ${move.to} is no longer in the config`);
  if (changes.length > 0 || !target) return changes;
  const verdict = (await judgeTargets(vm, state, { ...options, mustMove: recommendation.kind === 'must-move' })).find((v) => v.host === move.to);
  if (verdict && !verdict.accepted) changes.push(`target refused now: ${verdict.reason}`);
  if (changes.length === 0 && recommendation.kind === 'balancing') {
    const config = options.config ?? policySchema.parse({});
    // The planner does not nominate a VM in its cooldown: one that moved since it was recommended
    // (the state's history says when) waits as it would for the planner. A must-move ignores it, as there.
    const cooling = new HistoryIndex(state, config, state.observedAtMs).cooldown(vm);
    if (cooling) return [`VM ${vm.name} is in its cooldown (${cooling})`];
    const source = state.hosts.find((h) => h.name === move.from)!;
    const gain = gainNow(vm, source, target, state, config);
    const cost = moveCost(move.predicted.bytes, source, config).cost;
    if (gain <= cost)
      changes.push(
        `the move no longer pays: it would reduce the objective by ${gain.toFixed(4)}, not more than its cost ${cost.toFixed(4)} (it was ${move.gain.toFixed(4)} when recommended; the load changed)`,
      );
  }
  return changes;
}

/** The engine's objective gain of moving `vm` from `source` to `target` in the state observed now (objective.ts, weights and thresholds from config). */
function gainNow(vm: VmObservation, source: HostObservation, target: HostObservation, state: ClusterState, config: PolicyConfig): number {
  const counted = state.hosts.filter((h) => h.up && !h.maintenance);
  const objective = new Objective(
    counted.map((h) => ({
      name: h.name,
      cpu: h.cpuUtilization.mean,
      memory: h.memoryTotalBytes > 0 ? h.memoryUsedBytes / h.memoryTotalBytes : 0,
      cpuForecastOffset: 0,
    })),
    { cpu: config.objective.cpuWeight, memory: config.objective.memoryWeight, hotSpot: config.objective.hotSpotWeight },
    { cpu: config.cpuHighPercent / 100, memory: config.memoryHighPercent / 100 },
  );
  const cpuShare = (h: HostObservation) => (h.cpuCount > 0 ? (vm.cpuUtilization.mean * vm.vcpus) / h.cpuCount : 0);
  const memoryShare = (h: HostObservation) => (h.memoryTotalBytes > 0 ? ordinaryMemoryBytes(vm) / h.memoryTotalBytes : 0);
  return objective.gain(source.name, target.name, {
    fromCpu: cpuShare(source),
    toCpu: cpuShare(target),
    fromMemory: memoryShare(source),
    toMemory: memoryShare(target),
  });
}
