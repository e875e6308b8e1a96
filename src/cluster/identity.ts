/**
 * Identity checks across hosts: one VM (UUID) active on two hosts outside a migration, and two
 * configured hosts that are one libvirt host (one host UUID).
 */
import { holdsMemory } from './memory-accounting.js';
import type { InFlightMigration, VmObservation } from './model.js';

export interface DuplicateVm {
  uuid: string;
  name: string;
  /** Hosts on which a copy holds memory (running, paused, ...). */
  hosts: string[];
}

/**
 * VMs with one UUID active on two or more hosts while no migration of it runs: a VM started
 * twice (on shared storage, two writers of one disk) or a cloned definition. During a migration
 * the VM exists on both hosts (the incoming copy paused on the destination, a job on the
 * source): that is not reported. Shut-off leftover definitions hold nothing and are not reported.
 */
export function findDuplicateVms(copies: readonly VmObservation[], inFlight: readonly InFlightMigration[]): DuplicateVm[] {
  // One pass keeps the first copy of each UUID; only UUIDs seen twice get a list (a tick of
  // 300,000 VMs would otherwise build 300,000 lists and sets to find none).
  const first = new Map<string, VmObservation>();
  const several = new Map<string, VmObservation[]>();
  for (const vm of copies) {
    if (!holdsMemory(vm.state)) continue;
    const seen = first.get(vm.uuid);
    if (seen === undefined) first.set(vm.uuid, vm);
    else several.set(vm.uuid, [...(several.get(vm.uuid) ?? [seen]), vm]);
  }
  const migrating = new Set(inFlight.map((m) => m.vmUuid));
  const found: DuplicateVm[] = [];
  for (const [uuid, active] of several) {
    const hosts = [...new Set(active.map((v) => v.host))];
    if (hosts.length < 2 || migrating.has(uuid)) continue;
    // A migration in progress shows as a job on a copy, or its paused incoming copy.
    if (active.some((v) => v.jobRunning) || (active.length === 2 && active.some((v) => v.state === 'paused'))) continue;
    found.push({ uuid, name: active[0].name, hosts });
  }
  return found;
}

/**
 * The message for a host whose host UUID another configured host already has: libvirt refuses
 * migrations between them ("Attempt to migrate guest to the same host"), and listing one host
 * twice shows every VM twice.
 */
export function sameHostUuidMessage(_host: string, other: string, uuid: string): string {
  return `same libvirt host as "${other}" (host UUID ${uuid}); not used: remove one of the two entries, or, for cloned hosts, give each its own UUID (host_uuid in libvirtd.conf, or fix the SMBIOS system UUID)`;
}
