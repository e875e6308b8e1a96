import { describe, expect, it } from 'vitest';
import type { DomainDisk } from '../../../src/cluster/disks.js';
import { coldMoveWithLocalDisks, explainStorageCopyError } from '../../../src/executor/storage-copy.js';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { recipeFor } from '../../../src/executor/technique-params.js';
import { MigrateFlags } from '../../../src/libvirt/index.js';

const disk = (target: string, source: string, type = 'file'): DomainDisk => ({ target, source, type, device: 'disk', readonly: false, shareable: false });
const ctx = { vm: 'web1', targetHost: 'hv2', disks: [disk('vda', '/var/lib/libvirt/images/web1.qcow2'), disk('vdb', '/dev/vg0/web1-data', 'block')] };

describe('storage copy', () => {
  it("turns libvirt's missing-pool refusal into one line naming the VM, the disk, the target host and the fix", () => {
    // libvirt 9.0's message, as the lab's destination returned it.
    const text = explainStorageCopyError(
      "VIR_ERR_NO_STORAGE_POOL: Storage pool not found: no storage pool with matching target path '/var/lib/libvirt/images'",
      ctx,
    )!;
    expect(text).toContain('VM web1');
    expect(text).toContain('vda (/var/lib/libvirt/images/web1.qcow2) does not exist on hv2');
    expect(text).toContain('virsh pool-define-as images dir --target /var/lib/libvirt/images');
    expect(text).not.toContain('vdb');
  });

  it('explains that libvirt cannot create block devices on the target', () => {
    const text = explainStorageCopyError("VIR_ERR_INTERNAL_ERROR: internal error: cannot precreate storage for disk type 'block'", ctx)!;
    expect(text).toMatch(/vdb \(\/dev\/vg0\/web1-data\) does not exist on hv2 .*create it on hv2/);
  });

  it('leaves other errors alone', () => {
    expect(explainStorageCopyError('VIR_ERR_OPERATION_INVALID: domain is not running', ctx)).toBeUndefined();
  });

  it('refuses to move a shut-off VM with local disks, naming them', () => {
    expect(coldMoveWithLocalDisks(ctx)).toMatch(/^VM web1 is shut off and has local disks \(vda .*, vdb .*\).*offline migration moves only its definition/);
  });

  it('names the disks to copy in migrate_disks, and copies nothing when there is nothing local', () => {
    const base = { config: migrationSchema.parse({}), targetLibvirtUri: 'qemu+tcp://10.0.0.7/system', copyStorage: true, allowPostcopySwitch: false };
    const named = recipeFor('precopy', { ...base, migrateDisks: ['vda', 'vdb'] });
    expect(named.flags & MigrateFlags.NON_SHARED_DISK).toBe(MigrateFlags.NON_SHARED_DISK);
    expect(named.params.migrateDisks).toEqual(['vda', 'vdb']);
    const none = recipeFor('precopy', { ...base, migrateDisks: [] });
    expect(none.flags & MigrateFlags.NON_SHARED_DISK).toBe(0);
    expect(none.params.migrateDisks).toBeUndefined();
    expect(recipeFor('cold', { ...base, migrateDisks: ['vda'] }).flags & MigrateFlags.NON_SHARED_DISK).toBe(0);
  });
});
