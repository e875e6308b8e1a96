/**
 * Approval of a recommendation: is the recommended move still valid against the state observed
 * now? A recommendation made minutes ago may name a VM that moved, stopped or started a job, or a
 * target that went down, entered maintenance, filled up or now breaks a rule. Each such change is
 * said in words, so `approve` can refuse and tell the operator what changed.
 */
import type { ClusterState } from '../cluster/model.js';
import type { PolicyConfig } from '../config/policy-schema.js';
import type { LoadedPolicy } from '../policy/loader.js';
import { judgeTargets } from '../policy/place.js';
import type { Recommendation } from './recommendations.js';

/**
 * What changed since the recommendation was made that makes it unsafe or pointless to carry out;
 * empty when it still holds. Checks: the VM is still on the source, in a state the technique
 * needs, without a job; the target is up, not in maintenance, and passes the engine's hard limits
 * and every policy filter (soft filters skipped for a must-move, as when it was planned).
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
  if (live && vm.state !== 'running' && vm.state !== 'blocked' && vm.state !== 'paused') changes.push(`VM ${vm.name} is ${vm.state} now (it was planned to move live with ${move.technique})`);
  if (!live && vm.state !== 'shutoff') changes.push(`VM ${vm.name} is ${vm.state} now (it was planned to move cold, shut off)`);
  if (vm.jobRunning || state.inFlight.some((m) => m.vmUuid === vm.uuid)) changes.push(`VM ${vm.name} has a migration or other job running`);
  const target = state.hosts.find((h) => h.name === move.to);
  if (!target) changes.push(`target ${move.to} is no longer in the config`);
  if (changes.length > 0 || !target) return changes;
  const verdict = (await judgeTargets(vm, state, { ...options, mustMove: recommendation.kind === 'must-move' })).find((v) => v.host === move.to);
  if (verdict && !verdict.accepted) changes.push(`target refused now: ${verdict.reason}`);
  return changes;
}
