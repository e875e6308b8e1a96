/**
 * The guest image: a Debian kernel plus a busybox initramfs whose init runs the workload.
 * Built once and cached; rebuilt when the workload source or the init script changes.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile, chmod, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './run.js';

const here = dirname(fileURLToPath(import.meta.url));
const workloadSource = join(here, 'guest', 'workload.c');

/**
 * Kernel modules of the pvpanic driver (the ISA/ACPI device libvirt's <panic model='isa'/> adds),
 * so a guest's kernel panic reaches QEMU as GUEST_PANICKED and libvirt can keep the domain in its
 * crashed state (<on_crash>preserve</on_crash>). Debian builds them as modules (CONFIG_PVPANIC_MMIO=m).
 */
const PVPANIC_MODULES = ['pvpanic.ko', 'pvpanic-mmio.ko'];

// busybox mounts what the workload needs and loads pvpanic (harmless without the device), then the
// workload becomes the guest's only job.
const initScript = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
${PVPANIC_MODULES.map((m) => `/bin/busybox insmod /lib/modules/${m} 2>/dev/null`).join('\n')}
exec /bin/workload </dev/console >/dev/console 2>&1
`;

export interface GuestImage {
  kernel: string;
  initrd: string;
}

export async function buildGuestImage(imagesDir: string, log: (m: string) => void = () => {}): Promise<GuestImage> {
  await mkdir(imagesDir, { recursive: true });
  const kernel = join(imagesDir, 'vmlinuz');
  const initrd = join(imagesDir, 'initrd.img');
  const stampFile = join(imagesDir, 'initrd.stamp');
  const modules = PVPANIC_MODULES.map((m) => join(imagesDir, m));
  // The modules must come from the kernel's own package: fetch both again when an older lab has no modules.
  if (!existsSync(kernel) || !modules.every((m) => existsSync(m))) await fetchKernel(imagesDir, kernel, log);

  const source = await readFile(workloadSource, 'utf8');
  const hash = createHash('sha256').update(source).update(initScript);
  for (const m of modules) hash.update(await readFile(m));
  const stamp = hash.digest('hex');
  const current = existsSync(stampFile) ? (await readFile(stampFile, 'utf8')).trim() : '';
  if (current === stamp && existsSync(initrd)) return { kernel, initrd };

  log('building the guest initramfs (busybox + static workload)');
  const work = await mkdtemp(join(tmpdir(), 'vb-initrd-'));
  try {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'lib/modules']) await mkdir(join(work, d), { recursive: true });
    for (const m of PVPANIC_MODULES) await copyFile(join(imagesDir, m), join(work, 'lib', 'modules', m));
    await run('gcc', ['-O2', '-static', '-o', join(work, 'bin', 'workload'), workloadSource]);
    await copyFile('/bin/busybox', join(work, 'bin', 'busybox'));
    await writeFile(join(work, 'init'), initScript);
    await chmod(join(work, 'init'), 0o755);
    await run('sh', ['-c', `cd "${work}" && find . | cpio -o -H newc --quiet | gzip -1 > "${initrd}.tmp" && mv "${initrd}.tmp" "${initrd}"`]);
    await writeFile(stampFile, stamp + '\n');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { kernel, initrd };
}

/** Newest Debian 6.1 kernel image package, downloaded with apt-get and unpacked (no install): the kernel and the pvpanic modules. */
async function fetchKernel(imagesDir: string, kernel: string, log: (m: string) => void): Promise<void> {
  log('downloading the guest kernel (Debian linux-image package)');
  const { stdout } = await run('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-amd64$']);
  let names = stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean);
  if (names.length === 0) {
    await run('apt-get', ['update', '-q'], { timeoutMs: 600_000 });
    const again = await run('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-amd64$']);
    names = again.stdout
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter(Boolean);
  }
  if (names.length === 0) throw new Error('no linux-image-6.1.0-*-amd64 package found by apt-cache: run `apt-get update` and try again');
  names.sort((a, b) => Number(a.match(/6\.1\.0-(\d+)/)![1]) - Number(b.match(/6\.1\.0-(\d+)/)![1]));
  const pkg = names[names.length - 1];
  const work = await mkdtemp(join(tmpdir(), 'vb-kernel-'));
  try {
    await run('sh', ['-c', `cd "${work}" && apt-get download -q ${pkg}`], { timeoutMs: 600_000 });
    const deb = (await readdir(work)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    await run('sh', ['-c', `cd "${work}" && dpkg-deb --fsys-tarfile "${deb}" | tar -x --wildcards ./boot './lib/modules/*/kernel/drivers/misc/pvpanic/*'`]);
    const vmlinuz = (await readdir(join(work, 'boot'))).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${pkg} holds no /boot/vmlinuz-*`);
    await copyFile(join(work, 'boot', vmlinuz), kernel);
    if ((await stat(kernel)).size < 1_000_000) throw new Error(`${kernel} is too small to be a kernel`);
    const { stdout: found } = await run('find', [join(work, 'lib', 'modules'), '-path', '*/drivers/misc/pvpanic/*.ko']);
    for (const m of PVPANIC_MODULES) {
      const path = found.split('\n').find((p) => p.endsWith(`/${m}`));
      if (!path) throw new Error(`${pkg} holds no ${m} (drivers/misc/pvpanic): the lab's crashed-state guests need it`);
      await copyFile(path, join(imagesDir, m));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
