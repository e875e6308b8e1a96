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

// busybox mounts what the workload needs, then the workload becomes the guest's only job.
const initScript = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
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
  if (!existsSync(kernel)) await fetchKernel(imagesDir, kernel, log);

  const source = await readFile(workloadSource, 'utf8');
  const stamp = createHash('sha256').update(source).update(initScript).digest('hex');
  const current = existsSync(stampFile) ? (await readFile(stampFile, 'utf8')).trim() : '';
  if (current === stamp && existsSync(initrd)) return { kernel, initrd };

  log('building the guest initramfs (busybox + static workload)');
  const work = await mkdtemp(join(tmpdir(), 'vb-initrd-'));
  try {
    for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp']) await mkdir(join(work, d), { recursive: true });
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

/** Newest Debian 6.1 kernel image package, downloaded with apt-get and unpacked (no install). */
async function fetchKernel(_imagesDir: string, kernel: string, log: (m: string) => void): Promise<void> {
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
    await run('sh', ['-c', `cd "${work}" && dpkg-deb --fsys-tarfile "${deb}" | tar -x ./boot`]);
    const vmlinuz = (await readdir(join(work, 'boot'))).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${pkg} holds no /boot/vmlinuz-*`);
    await copyFile(join(work, 'boot', vmlinuz), kernel);
    if ((await stat(kernel)).size < 1_000_000) throw new Error(`${kernel} is too small to be a kernel`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
