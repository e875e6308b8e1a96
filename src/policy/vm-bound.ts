/**
 * Reasons a VM cannot move that belong to the VM, not to a target: found in its definition before
 * trying (host devices, ...), a failure libvirt attributed to the VM, or a second active copy. Such
 * a VM is skipped with the reason (shown in `plan`) instead of being tried on every target.
 */
import type { ClusterState, VmObservation } from '../cluster/model.js';
import { isVmBoundFailure } from '../cluster/vm-bound-errors.js';

export { isVmBoundFailure };

/**
 * Why the VM cannot move to any host, or undefined. A VM-bound failure holds until the collector
 * sees the VM's definition change after it (a device detached, the XML edited).
 */
export function vmBoundReason(vm: VmObservation, state: Pick<ClusterState, 'recentFailures'>, nowMs: number): string | undefined {
  if (vm.alsoActiveOn?.length)
    return `also active on ${vm.alsoActiveOn.join(', ')} with the same UUID outside a migration; find out which copy is the VM (and stop the other) before it is moved`;
  if (vm.migrationBlockers?.length) return `cannot be migrated: ${vm.migrationBlockers.join('; ')}`;
  const failure = [...(state.recentFailures ?? [])].reverse().find((f) => f.vmUuid === vm.uuid && isVmBoundFailure(f.error));
  if (failure && failure.atMs > (vm.definitionChangedAtMs ?? Number.NEGATIVE_INFINITY)) {
    return `its move to ${failure.to} failed ${((nowMs - failure.atMs) / 1000).toFixed(0)} s ago for a reason of the VM, not the target (${(failure.error ?? '').slice(0, 160)}); not tried on other hosts until its definition changes`;
  }
  return undefined;
}
