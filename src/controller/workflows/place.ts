/**
 * Where should a new VM go now? Every host judged with the limits and policies balancing uses
 * (policy/place.ts), joined to the affinity group it will belong to.
 */
import type { ClusterState } from '../../cluster/model.js';
import type { PolicyConfig } from '../../config/policy-schema.js';
import type { LoadedPolicy } from '../../policy/index.js';
import { judgeTargets, newVmObservation, type HostVerdict } from '../../policy/place.js';
import type { Session } from '../session.js';
import { RequestRefused } from '../errors.js';

/**
 * How the new VM joins affinity group `group`: a group of that name in policy.affinityGroups gets
 * the VM added (its type decides); else VMs tagged `group:NAME` make it an anti-affinity tag,
 * otherwise an `affinity:NAME` tag (the affinity policy's tag conventions).
 */
export function joinAffinityGroup(
  group: string,
  vmName: string,
  policy: PolicyConfig,
  state: Pick<ClusterState, 'vms'>,
): { policy: PolicyConfig; tags: string[] } {
  const configured = policy.affinityGroups.find((g) => g.name === group);
  if (configured)
    return { policy: { ...policy, affinityGroups: policy.affinityGroups.map((g) => (g === configured ? { ...g, vms: [...g.vms, vmName] } : g)) }, tags: [] };
  const anti = state.vms.some((v) => v.tags.includes(`group:${group}`));
  return { policy, tags: [anti ? `group:${group}` : `affinity:${group}`] };
}

/** The new VM as `place` describes it. */
export interface NewVmRequest {
  name: string;
  vcpus: number;
  memoryMib: number;
  /** Expected CPU use, 0-1 of its vCPUs. */
  cpuRatio: number;
  cpuModel?: string;
  affinityGroup?: string;
  requiredLabels: Record<string, string>;
}

/**
 * Every host's verdict for the new VM on the state the session collects, best first.
 * @throws RequestRefused 'vm-name-taken' when a VM of that name exists.
 */
export async function placeNewVm(session: Session, request: NewVmRequest): Promise<{ state: ClusterState; verdicts: HostVerdict[] }> {
  const state = await session.collect({ sampleIntervalMs: 200 });
  return { state, verdicts: await judgeNewVm(state, request, session.config.policy, (policy) => session.policies(policy)) };
}

/**
 * Every host's verdict for the new VM on `state`, best first: `place` (on a session's collection)
 * and the daemon's HTTP API (on its own observation) share it. `policiesFor` loads the policies
 * of a policy section (the configured one, or with the new VM added to its affinity group).
 * @throws RequestRefused 'vm-name-taken' when a VM of that name exists.
 */
export async function judgeNewVm(
  state: ClusterState,
  request: NewVmRequest,
  policy: PolicyConfig,
  policiesFor: (policy: PolicyConfig) => Promise<LoadedPolicy[]>,
): Promise<HostVerdict[]> {
  const existing = state.vms.find((v) => v.name === request.name);
  if (existing) throw new RequestRefused('vm-name-taken', `a VM named "${request.name}" already exists (on ${existing.host}); give the new one its own --name`);
  const group = request.affinityGroup ? joinAffinityGroup(request.affinityGroup, request.name, policy, state) : { policy, tags: [] };
  const policies = await policiesFor(group.policy);
  const vm = newVmObservation({
    name: request.name,
    vcpus: request.vcpus,
    memoryMiB: request.memoryMib,
    cpuRatio: request.cpuRatio,
    cpuModel: request.cpuModel,
    tags: group.tags,
  });
  return judgeTargets(vm, state, { policies, config: group.policy, requiredLabels: request.requiredLabels, cpuModel: request.cpuModel });
}
