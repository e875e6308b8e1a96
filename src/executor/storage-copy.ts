/**
 * Storage copy during a live migration (libvirt's NON_SHARED_DISK with an explicit `migrate_disks`
 * list; QEMU mirrors each disk to an NBD server the destination QEMU runs, then moves memory).
 *
 * The destination needs a file to mirror into. libvirt 9.0 uses the file when it already exists
 * there; otherwise it creates it only through a storage pool whose target path is the disk's
 * directory, and fails at once ("no storage pool with matching target path") when there is none.
 * It cannot create block devices at all. virt-balancer leaves that decision to libvirt (it knows
 * what exists on the target, we do not) and turns its refusal into one line that names the VM,
 * the disk, the target host and the fix. It fails before any data moves: the VM is untouched.
 */
import { posix } from 'node:path';
import type { DomainDisk } from '../cluster/disks.js';

export interface StorageCopyContext {
  vm: string;
  targetHost: string;
  disks: readonly DomainDisk[];
}

const describeDisk = (d: DomainDisk) => `${d.target} (${d.source})`;

/** An operator's explanation of libvirt's error when it is about storage copy; undefined otherwise. */
export function explainStorageCopyError(libvirtMessage: string, ctx: StorageCopyContext): string | undefined {
  const noPool = /no storage pool with matching target path '([^']+)'/.exec(libvirtMessage);
  if (noPool) {
    const dir = noPool[1];
    const disks = ctx.disks.filter((d) => d.type === 'file' && d.source !== undefined && posix.dirname(d.source) === dir);
    const named = disks.length ? disks.map(describeDisk).join(', ') : `the disk(s) under ${dir}`;
    return (
      `storage copy of VM ${ctx.vm} to ${ctx.targetHost} refused before any data moved: ${named} does not exist on ${ctx.targetHost} ` +
      `and no active storage pool there covers ${dir}, so libvirt cannot create it. ` +
      `Fix: on ${ctx.targetHost} define a storage pool for that directory ` +
      `(virsh pool-define-as images dir --target ${dir} && virsh pool-build images && virsh pool-start images && virsh pool-autostart images), ` +
      `or create the image there at the same path and size before the move`
    );
  }
  const blockType = /cannot precreate storage for disk type '(\w+)'/.exec(libvirtMessage);
  if (blockType) {
    const disks = ctx.disks.filter((d) => d.type === blockType[1]);
    const named = disks.length ? disks.map(describeDisk).join(', ') : `its ${blockType[1]} disk(s)`;
    return (
      `storage copy of VM ${ctx.vm} to ${ctx.targetHost} refused before any data moved: ${named} does not exist on ${ctx.targetHost} ` +
      `and libvirt cannot create ${blockType[1]} storage. Fix: create it on ${ctx.targetHost} at the same path with at least the same size ` +
      `(e.g. lvcreate), or keep the VM on shared storage`
    );
  }
  return undefined;
}

/** Why a shut-off VM with local disks cannot move: libvirt's offline migration moves only its definition. */
export function coldMoveWithLocalDisks(ctx: StorageCopyContext): string {
  return (
    `VM ${ctx.vm} is shut off and has local disks (${ctx.disks.map(describeDisk).join(', ')}): libvirt's offline migration moves only its definition, ` +
    `so it would not start on ${ctx.targetHost}. Start it and move it live (its disks are copied), or copy the images to ${ctx.targetHost} yourself and move it with virsh`
  );
}
