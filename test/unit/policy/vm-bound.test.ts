import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { definitionFingerprint, migrationBlockers } from '../../../src/cluster/domain-xml.js';
import { findDuplicateVms } from '../../../src/cluster/identity.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { isVmBoundFailure } from '../../../src/policy/vm-bound.js';
import { host, state, vm } from './fixtures.js';

const config = policySchema.parse({ maxMovesPerTick: 3 });
const hostdevXml = `<domain type='kvm'><devices>
  <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></source></hostdev>
  <hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/></source></hostdev>
</devices></domain>`;

describe('what makes a VM immovable, from its domain XML', () => {
  it('names PCI passthrough, SR-IOV interfaces, shmem, virtiofs and TPM passthrough; USB host devices do not block', () => {
    expect(migrationBlockers(hostdevXml, false)).toEqual([expect.stringContaining("<hostdev mode='subsystem' type='pci'> (PCI passthrough)")]);
    const many = `<devices><interface type='hostdev'><source/></interface><shmem name='ivshmem'/>
      <filesystem type='mount'><driver type='virtiofs'/><source dir='/srv'/><target dir='srv'/></filesystem>
      <tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm></devices>`;
    const found = migrationBlockers(many, false).join('\n');
    expect(found).toContain("<interface type='hostdev'>");
    expect(found).toContain('<shmem>');
    expect(found).toContain('virtiofs');
    expect(found).toContain('TPM passthrough');
    expect(migrationBlockers("<devices><tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm></devices>", false)).toEqual([]);
  });

  it('fingerprints a definition by the first 16 hex digits of its SHA-256 without the balloon size, so only real changes show', () => {
    const xml = (kib: number, extra = '') => `<domain type='kvm'><currentMemory unit='KiB'>${kib}</currentMemory><devices>${extra}</devices></domain>`;
    const stable = "<domain type='kvm'><devices></devices></domain>";
    expect(definitionFingerprint(xml(1024))).toBe(createHash('sha256').update(stable).digest('hex').slice(0, 16));
    expect(definitionFingerprint(xml(2048))).toBe(definitionFingerprint(xml(1024)));
    expect(definitionFingerprint(xml(1024, "<shmem name='x'/>"))).not.toBe(definitionFingerprint(xml(1024)));
  });

  it('a CD-ROM image on host-local storage blocks only when the VM is tagged local-disks', () => {
    const xml = `<devices><disk type='file' device='cdrom'><source file='/var/lib/iso/setup.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
      <disk type='file' device='disk'><source file='/var/lib/libvirt/images/v.qcow2'/><target dev='vda' bus='virtio'/></disk></devices>`;
    expect(migrationBlockers(xml, false)).toEqual([]);
    expect(migrationBlockers(xml, true)).toEqual([expect.stringContaining('cdrom sda (/var/lib/iso/setup.iso)')]);
  });
});

describe('VM-bound failures (issue 14, case 6)', () => {
  const hostdevError = 'Requested operation is not valid: domain has assigned non-USB host devices';
  const hot = () => [vm('gpu', 'a', 1, { vcpus: 2 }), vm('app', 'a', 1, { vcpus: 2 }), vm('rest', 'a', 0.5, { vcpus: 2 })];
  const hosts = () => [host('a'), host('b'), host('c'), host('d')];

  it('a VM with a PCI host device is skipped with the reason before any attempt; others move', async () => {
    const vms = hot();
    vms[0] = { ...vms[0], migrationBlockers: migrationBlockers(hostdevXml, false) };
    const p = await plan(state(hosts(), vms), { config });
    expect(p.moves.map((m) => m.vmName)).not.toContain('gpu');
    expect(p.moves.length).toBeGreaterThan(0);
    expect(p.skipped.find((s) => s.vmName === 'gpu')?.reason).toMatch(/^cannot be migrated: host device <hostdev mode='subsystem' type='pci'>/);
  });

  it("classifies libvirt errors: the VM's own (host devices, QEMU blockers) vs the pair's", () => {
    expect(isVmBoundFailure(hostdevError)).toBe(true);
    expect(isVmBoundFailure("operation failed: cannot migrate a domain with <hostdev mode='subsystem' type='mdev'>")).toBe(true);
    expect(isVmBoundFailure("internal error: unable to execute QEMU command 'migrate': State blocked by non-migratable device '0000:00:05.0/vfio'")).toBe(true);
    expect(isVmBoundFailure("Storage pool not found: no storage pool with matching name 'images'")).toBe(false);
    expect(isVmBoundFailure("operation failed: guest CPU doesn't match specification: missing features: avx512f")).toBe(false);
    expect(isVmBoundFailure(undefined)).toBe(false);
  });

  it('a failure libvirt attributes to the VM marks the VM (no other target is tried), until its definition changes', async () => {
    const vms = hot();
    const failure = { vmUuid: vms[0].uuid, from: 'a', to: 'b', atMs: 1_000_000 - 60_000, outcome: 'failed', error: hostdevError };
    const marked = await plan(state(hosts(), vms, { recentFailures: [failure] }), { config });
    expect(marked.moves.map((m) => m.vmName)).not.toContain('gpu');
    expect(marked.skipped.find((s) => s.vmName === 'gpu')?.reason).toMatch(
      /its move to b failed 60 s ago for a reason of the VM, not the target .*not tried on other hosts until its definition changes/,
    );
    // Well past retryAfterFailureSeconds (900 s): still marked.
    const later = await plan(state(hosts(), vms, { recentFailures: [failure], observedAtMs: 1_000_000 + 7_200_000 }), { config });
    expect(later.moves.map((m) => m.vmName)).not.toContain('gpu');
    expect(later.skipped.find((s) => s.vmName === 'gpu')?.reason).toMatch(/for a reason of the VM/);
    // The definition changed after the failure (the device was detached): movable again.
    vms[0] = { ...vms[0], definitionChangedAtMs: 1_000_000 - 1_000 };
    const changed = await plan(state(hosts(), vms, { recentFailures: [failure] }), { config });
    expect(changed.moves.map((m) => m.vmName)).toContain('gpu');
  });

  it('a failure of the pair only rules out that target', async () => {
    const vms = hot();
    const failure = {
      vmUuid: vms[0].uuid,
      from: 'a',
      to: 'b',
      atMs: 1_000_000 - 60_000,
      outcome: 'failed',
      error: "Storage pool not found: no storage pool with matching name 'images'",
    };
    const p = await plan(state(hosts(), vms, { recentFailures: [failure] }), { config });
    const gpu = p.moves.find((m) => m.vmName === 'gpu');
    expect(gpu).toBeDefined();
    expect(gpu!.to).not.toBe('b');
  });
});

describe('one VM UUID active on two hosts', () => {
  it('is reported outside a migration, not during one, and the VM is not moved', async () => {
    const a = vm('dup', 'a', 1);
    const b = { ...a, host: 'b' };
    expect(findDuplicateVms([a, b], [])).toEqual([{ uuid: a.uuid, name: 'dup', hosts: ['a', 'b'] }]);
    expect(
      findDuplicateVms(
        [
          { ...a, jobRunning: true },
          { ...b, state: 'paused' },
        ],
        [],
      ),
    ).toEqual([]);
    expect(findDuplicateVms([a, b], [{ vmUuid: a.uuid, vmName: 'dup', from: 'a', to: 'b', startedAtMs: 0 }])).toEqual([]);
    expect(findDuplicateVms([a, { ...b, state: 'shutoff' }], [])).toEqual([]);
    const p = await plan(state([host('a'), host('b'), host('c')], [{ ...a, vcpus: 4, alsoActiveOn: ['b'] }, vm('x', 'a', 0.5)]), { config });
    expect(p.moves.map((m) => m.vmName)).not.toContain('dup');
    expect(p.skipped.find((s) => s.vmName === 'dup')?.reason).toMatch(/also active on b with the same UUID outside a migration/);
  });
});
