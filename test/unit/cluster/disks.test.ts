import { describe, expect, it } from 'vitest';
import { disksToCopy, parseDomainDisks } from '../../../src/cluster/disks.js';

// Disk elements as libvirt 9.0 prints them (virsh dumpxml), one of each kind an operator meets.
const xml = `<domain type='kvm'>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/web1-root.qcow2' index='3'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'>
      <source dev='/dev/vg0/web1-data'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='network' device='disk'>
      <source protocol='rbd' name='pool/web1-logs'><host name='mon1' port='6789'/></source>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/srv/shared/scratch.raw'/>
      <target dev='vdd' bus='virtio'/>
      <shareable/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/install&apos;s.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='file' device='cdrom'>
      <target dev='sdb' bus='sata'/>
      <readonly/>
    </disk>
    <disk type="volume" device="disk">
      <source pool="local" volume="web1-swap"/>
      <target dev="vde" bus="virtio"/>
    </disk>
  </devices>
</domain>`;

describe('domain disks', () => {
  it('reads every disk with its type, source and flags', () => {
    const disks = parseDomainDisks(xml);
    expect(disks.map((d) => d.target)).toEqual(['vda', 'vdb', 'vdc', 'vdd', 'sda', 'sdb', 'vde']);
    expect(disks[0]).toEqual({
      target: 'vda',
      type: 'file',
      device: 'disk',
      source: '/var/lib/libvirt/images/web1-root.qcow2',
      readonly: false,
      shareable: false,
    });
    expect(disks[2]).toMatchObject({ type: 'network', source: 'pool/web1-logs' });
    expect(disks[4]).toMatchObject({ device: 'cdrom', source: "/var/lib/libvirt/images/install's.iso", readonly: true });
    expect(disks[5].source).toBeUndefined();
    expect(disks[6]).toMatchObject({ type: 'volume', source: 'local/web1-swap' });
  });

  it('copies writable host-local disks only: not network, shareable, read-only or empty ones', () => {
    expect(disksToCopy(xml).map((d) => d.target)).toEqual(['vda', 'vdb', 'vde']);
    expect(disksToCopy('<domain><devices></devices></domain>')).toEqual([]);
  });
});
