/**
 * Lab VMs with a disk on host-local storage, for storage-copy tests. Each lab host's
 * /var/lib/libvirt is its own directory (bind-mounted in the host's namespace), so an image under
 * /var/lib/libvirt/images exists on one host only, as on a hypervisor's local disk. The image is
 * written before boot with a known byte pattern per region; the guest never touches it (its
 * initramfs loads no virtio-blk driver), so every copy must hold exactly that pattern.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Heartbeat, Lab, LabHost } from './lab.js';
import { run, virsh } from './run.js';
import { domainXml, type VmProfile } from './vm.js';

/** Where operators keep local images, and where libvirt's stock "default" pool points. */
export const IMAGES_DIR = '/var/lib/libvirt/images';
const TAG_NAMESPACE_URI = 'https://virt-balancer.dev/xmlns/1';

export interface Region {
  offsetMiB: number;
  lengthMiB: number;
  /** Byte value the region holds (0 for regions never written). */
  byte: number;
}

export interface LocalDisk {
  /** Path as the hosts (libvirt, QEMU) see it. */
  path: string;
  sizeMiB: number;
  /** Every region of the disk, written ones and zero ones, in order. */
  regions: Region[];
}

/** The path in this process's namespace of a file under a host's private /var/lib/libvirt. */
export function pathOnHost(host: LabHost, pathInHost: string): string {
  const prefix = '/var/lib/libvirt/';
  if (!pathInHost.startsWith(prefix)) throw new Error(`${pathInHost} is not under ${prefix}, which is the only host-local directory in the lab`);
  return join(host.dir, 'lib', pathInHost.slice(prefix.length));
}

/** A qcow2 image on one host with the written regions filled; the gaps between them read as zeros. */
export async function createLocalImage(host: LabHost, name: string, sizeMiB: number, written: Region[]): Promise<LocalDisk> {
  const path = posix.join(IMAGES_DIR, `${name}.qcow2`);
  const file = pathOnHost(host, path);
  await mkdir(join(file, '..'), { recursive: true });
  await rm(file, { force: true });
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeMiB}M`]);
  const writes = written.flatMap((r) => ['-c', `write -P ${r.byte} ${r.offsetMiB}M ${r.lengthMiB}M`]);
  await run('qemu-io', ['-f', 'qcow2', ...writes, file]);
  const regions: Region[] = [];
  let at = 0;
  for (const r of [...written].sort((a, b) => a.offsetMiB - b.offsetMiB)) {
    if (r.offsetMiB > at) regions.push({ offsetMiB: at, lengthMiB: r.offsetMiB - at, byte: 0 });
    regions.push(r);
    at = r.offsetMiB + r.lengthMiB;
  }
  if (at < sizeMiB) regions.push({ offsetMiB: at, lengthMiB: sizeMiB - at, byte: 0 });
  return { path, sizeMiB, regions };
}

/**
 * Read the host's copy of the disk and check every region (qemu-io exits 1 on the first
 * mismatch). Read-only with shared locking, so it also works while the VM runs there.
 */
export async function checkImage(host: LabHost, disk: LocalDisk): Promise<void> {
  const reads = disk.regions.flatMap((r) => ['-c', `read -P ${r.byte} ${r.offsetMiB}M ${r.lengthMiB}M`]);
  const { stdout } = await run('qemu-io', ['-r', '-U', '-f', 'qcow2', ...reads, pathOnHost(host, disk.path)]);
  if (/verification failed|error/i.test(stdout)) throw new Error(`${host.name}:${disk.path}: ${stdout.trim()}`);
}

export function imageExists(host: LabHost, disk: LocalDisk): Promise<boolean> {
  return run('test', ['-f', pathOnHost(host, disk.path)]).then(
    () => true,
    () => false,
  );
}

/** What an operator does so libvirt can create a copied disk on a host: a dir pool over the images directory. */
export async function ensureImagesPool(host: LabHost): Promise<void> {
  await mkdir(pathOnHost(host, IMAGES_DIR), { recursive: true });
  const { stdout } = await virsh(host.uri, ['pool-list', '--name']);
  if (!stdout.split('\n').some((l) => l.trim() === 'images')) await virsh(host.uri, ['pool-create-as', 'images', 'dir', '--target', IMAGES_DIR]);
  await virsh(host.uri, ['pool-refresh', 'images']);
}

/** No pool over the images directory and no images on this host (a host that never held local disks). */
export async function removeImagesPool(host: LabHost): Promise<void> {
  await virsh(host.uri, ['pool-destroy', 'images']).catch(() => {});
  await rm(pathOnHost(host, IMAGES_DIR), { recursive: true, force: true });
}

/**
 * Define and start a lab VM with the disk as vda, tagged `local-disks` (virt-balancer's sign that
 * its disks must be copied), and wait for its first heartbeat.
 */
export async function createVmWithLocalDisk(lab: Lab, profile: VmProfile, disk: LocalDisk): Promise<Heartbeat> {
  const host = lab.host(profile.host);
  await lab.destroyVm(profile.name);
  await rm(lab.consolePath(profile.name), { force: true });
  const image = { kernel: join(lab.paths.images, 'vmlinuz'), initrd: join(lab.paths.images, 'initrd.img') };
  const xml = domainXml(profile, image, lab.consolePath(profile.name))
    .replace('</name>', `</name>\n  <metadata><vb:tags xmlns:vb='${TAG_NAMESPACE_URI}'>local-disks</vb:tags></metadata>`)
    .replace(
      '<memballoon',
      `<disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      <source file='${disk.path}'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n    <memballoon`,
    );
  const xmlFile = join(host.dir, `${profile.name}.xml`);
  await writeFile(xmlFile, xml);
  await virsh(host.uri, ['define', xmlFile]);
  await virsh(host.uri, ['start', profile.name]);
  return lab.waitForHeartbeat(profile.name, { afterSeq: 0, timeoutMs: 120_000 });
}
