/**
 * libvirt and QEMU errors that say the VM itself cannot migrate, wherever it goes (libvirt's
 * qemuMigrationSrcIsAllowed* refusals, QEMU's migration blockers). Anything else (no storage pool
 * on the target, an incompatible CPU, a refused connection) is about the pair of hosts. In
 * cluster/ because the collector watches such VMs' definitions and the planner skips them.
 */
const VM_BOUND_ERRORS: readonly RegExp[] = [
  /domain has assigned non-USB host devices/i,
  /cannot migrate a domain with <hostdev/i,
  /migration with (shmem|virtiofs) device is not supported/i,
  /cannot migrate a domain with <tpm/i,
  /non-migratable (CPU )?device/i,
  /Migration is disabled when/i,
  /domain is marked for auto destroy/i,
];

/** The failure's error says the VM cannot migrate anywhere. */
export function isVmBoundFailure(error: string | undefined): boolean {
  return error !== undefined && VM_BOUND_ERRORS.some((pattern) => pattern.test(error));
}
