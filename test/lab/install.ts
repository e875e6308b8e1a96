/** Install what the lab needs when it is missing (as root), or say what to run. */
import { existsSync } from 'node:fs';
import { run } from './run.js';

const NEEDED: { file: string; pkg: string }[] = [
  { file: '/usr/sbin/libvirtd', pkg: 'libvirt-daemon-system' },
  { file: '/usr/bin/virsh', pkg: 'libvirt-clients' },
  { file: '/usr/bin/qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { file: '/usr/bin/qemu-img', pkg: 'qemu-utils' },
  { file: '/bin/busybox', pkg: 'busybox-static' },
  { file: '/usr/bin/cpio', pkg: 'cpio' },
  { file: '/usr/bin/gcc', pkg: 'gcc' },
  { file: '/usr/bin/unshare', pkg: 'util-linux' },
  { file: '/usr/bin/nsenter', pkg: 'util-linux' },
  // Not the lab's own needs, but the test suite's: promtool and a real Prometheus, systemd-analyze.
  { file: '/usr/bin/prometheus', pkg: 'prometheus' },
  { file: '/usr/bin/promtool', pkg: 'prometheus' },
  { file: '/usr/bin/systemd-analyze', pkg: 'systemd' },
  // transports.test.ts: a throwaway PKI for TLS, a private sshd, the ssh helpers on its far side.
  { file: '/usr/bin/openssl', pkg: 'openssl' },
  { file: '/usr/sbin/sshd', pkg: 'openssh-server' },
  { file: '/usr/bin/ssh', pkg: 'openssh-client' },
  { file: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { file: '/usr/bin/virt-ssh-helper', pkg: 'libvirt-daemon' },
  { file: '/bin/nc.openbsd', pkg: 'netcat-openbsd' },
  // postcopy-recovery.test.ts cuts a migration connection with `ss -K`.
  { file: '/usr/bin/ss', pkg: 'iproute2' },
];

export async function ensureLabPackages(log: (m: string) => void): Promise<void> {
  const missing = [...new Set(NEEDED.filter((n) => !existsSync(n.file)).map((n) => n.pkg))];
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the lab starts libvirtd in private mount namespaces and needs root: run it as root (e.g. `sudo npm run lab -- up`)' +
        (missing.length ? `, after \`sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}\`` : ''),
    );
  }
  if (missing.length === 0) return;
  log(`installing ${missing.join(', ')} with apt-get`);
  await run('apt-get', ['update', '-q'], { timeoutMs: 900_000 });
  await run('apt-get', ['install', '-y', '-q', ...missing], {
    timeoutMs: 1_800_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  // The package's own service start is pointless here (no systemd) and would hold the default socket.
}
