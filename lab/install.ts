/**
 * Install what the lab (and, for `npm test`, the test suite) needs when it is missing (as root), or
 * say what to run. The demo and `npm run lab -- up` need the lab's part only.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from './run.js';

/** What the lab itself needs: the stack, the guest image's tools, the hosts' namespaces. */
const LAB_NEEDS: { file: string; pkg: string }[] = [
  { file: '/usr/sbin/libvirtd', pkg: 'libvirt-daemon-system' },
  { file: '/usr/bin/virsh', pkg: 'libvirt-clients' },
  { file: '/usr/bin/qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { file: '/usr/bin/qemu-img', pkg: 'qemu-utils' },
  { file: '/bin/busybox', pkg: 'busybox-static' },
  { file: '/usr/bin/cpio', pkg: 'cpio' },
  { file: '/usr/bin/gcc', pkg: 'gcc' },
  { file: '/usr/bin/unshare', pkg: 'util-linux' },
  { file: '/usr/bin/nsenter', pkg: 'util-linux' },
];

/** What the test suite needs beyond the lab. */
const TEST_NEEDS: { file: string; pkg: string }[] = [
  // promtool and a real Prometheus, systemd-analyze.
  { file: '/usr/bin/prometheus', pkg: 'prometheus' },
  { file: '/usr/bin/promtool', pkg: 'prometheus' },
  // The HA tests' etcd cluster (test/lab/etcd.ts).
  { file: '/usr/bin/etcd', pkg: 'etcd-server' },
  { file: '/usr/bin/etcdctl', pkg: 'etcd-client' },
  { file: '/usr/bin/systemd-analyze', pkg: 'systemd' },
  // transports.test.ts: a throwaway PKI for TLS, a private sshd, the ssh helpers on its far side.
  { file: '/usr/bin/openssl', pkg: 'openssl' },
  { file: '/usr/sbin/sshd', pkg: 'openssh-server' },
  // migration-tls.test.ts: the migration stream captured on the wire.
  { file: '/usr/bin/tcpdump', pkg: 'tcpdump' },
  { file: '/usr/bin/ssh', pkg: 'openssh-client' },
  { file: '/usr/bin/ssh-keygen', pkg: 'openssh-client' },
  { file: '/usr/bin/virt-ssh-helper', pkg: 'libvirt-daemon' },
  { file: '/bin/nc.openbsd', pkg: 'netcat-openbsd' },
  // postcopy-recovery.test.ts cuts a migration connection with `ss -K`.
  { file: '/usr/bin/ss', pkg: 'iproute2' },
  // The installed libvirt's protocol definitions, fetched from Debian's source package: the unit
  // test of src/libvirt/generated/protocol.ts regenerates it from them.
  { file: '/var/cache/virt-balancer/libvirt-source/current/src/remote/remote_protocol.x', pkg: 'libvirt (source package, apt-get source)' },
];

/** The lab's minimum stack: QEMU 7.2's TCG corrupted guests in multi-round pre-copy (docs/lab-guest-crash.md). */
export const LAB_MIN_LIBVIRT = [11, 0] as const;
export const LAB_MIN_QEMU = [10, 0] as const;

/** "libvirtd (libvirt) 11.3.0" / "QEMU emulator version 10.0.2 (...)" -> [major, minor], or undefined. */
export function parseToolVersion(text: string): [number, number] | undefined {
  const m = /(\d+)\.(\d+)(?:\.\d+)?/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const atLeast = (v: [number, number] | undefined, min: readonly [number, number]) => !!v && (v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]));

async function installedStackTooOld(): Promise<string | undefined> {
  if (!existsSync('/usr/sbin/libvirtd') || !existsSync('/usr/bin/qemu-system-x86_64')) return undefined;
  const libvirt = parseToolVersion((await run('/usr/sbin/libvirtd', ['--version'])).stdout);
  const qemu = parseToolVersion((await run('/usr/bin/qemu-system-x86_64', ['--version'])).stdout);
  if (atLeast(libvirt, LAB_MIN_LIBVIRT) && atLeast(qemu, LAB_MIN_QEMU)) return undefined;
  return `libvirt ${libvirt?.join('.') ?? '?'} / QEMU ${qemu?.join('.') ?? '?'} is older than the lab's ${LAB_MIN_LIBVIRT.join('.')} / ${LAB_MIN_QEMU.join('.')}`;
}

/**
 * The Debian packages `scope` needs, each with a file that shows it is installed: 'lab' is what the
 * lab itself and the demo need, 'tests' adds the test suite's tools.
 */
export function labPackageNeeds(scope: 'lab' | 'tests'): readonly { file: string; pkg: string }[] {
  return scope === 'lab' ? LAB_NEEDS : [...LAB_NEEDS, ...TEST_NEEDS];
}

const INSTALL_SCRIPT = fileURLToPath(new URL('../scripts/install-lab-packages.sh', import.meta.url));

/**
 * Makes sure the Debian packages the lab needs (`scope` 'lab': the demo, `npm run lab -- up`) or
 * the lab and the whole test suite need ('tests': `npm run lab -- install`, run before `npm test`)
 * are installed, with libvirt >= 11.0 and QEMU >= 10.0 (bookworm-backports on Debian 12), by
 * running scripts/install-lab-packages.sh (with --lab-only for 'lab') when something is missing or
 * too old. Throws when not root, or when the install fails.
 */
export async function ensureLabPackages(log: (m: string) => void, scope: 'lab' | 'tests' = 'lab'): Promise<void> {
  const missing = [
    ...new Set(
      labPackageNeeds(scope)
        .filter((n) => !existsSync(n.file))
        .map((n) => n.pkg),
    ),
  ];
  const tooOld = await installedStackTooOld();
  if (missing.length === 0 && !tooOld) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the lab starts libvirtd in private mount namespaces and needs root: run it as root (e.g. `sudo npm run lab -- up`)' +
        `, after \`sudo bash scripts/install-lab-packages.sh${scope === 'lab' ? ' --lab-only' : ''}\` (${tooOld ?? `missing: ${missing.join(' ')}`})`,
    );
  }
  const args = scope === 'lab' ? ['--lab-only'] : [];
  log(`installing with scripts/install-lab-packages.sh ${args.join(' ')}(${tooOld ?? `missing: ${missing.join(', ')}`})`);
  await run('bash', [INSTALL_SCRIPT, ...args], { timeoutMs: 1_800_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  // The package's own service start is pointless here (no systemd) and would hold the default socket.
}
