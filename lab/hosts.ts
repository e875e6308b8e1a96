/**
 * Lab hosts: one libvirtd per host, each in its own mount namespace where per-host directories
 * are bound over libvirt's config, run, lib, log and cache directories, listening on TCP at its
 * own loopback address. virtlogd is started first in the same namespace (its default pidfile in
 * /run would collide between hosts) and keeps the namespace alive while libvirtd is restarted.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive, run, sleep, virsh } from './run.js';

export interface LabHost {
  name: string;
  address: string;
  uri: string;
  testUri: string;
  dir: string;
  hostUuid: string;
}

/**
 * Where a lab host's QEMU looks for its migration TLS certificates (qemu.conf
 * migrate_tls_x509_cert_dir): empty until a test puts a PKI there (migration-tls.test.ts).
 */
export function migrationPkiDir(host: Pick<LabHost, 'dir'>): string {
  return join(host.dir, 'migration-pki');
}

const BIND_TARGETS: [string, string][] = [
  ['etc', '/etc/libvirt'],
  ['run', '/run/libvirt'],
  ['lib', '/var/lib/libvirt'],
  ['log', '/var/log/libvirt'],
  ['cache', '/var/cache/libvirt'],
];

export function describeHost(hostsDir: string, index: number, address: string): Omit<LabHost, 'hostUuid'> {
  const name = `lab${index + 1}`;
  return {
    name,
    address,
    uri: `qemu+tcp://${address}/system`,
    testUri: `test+tcp://${address}/default`,
    dir: join(hostsDir, name),
  };
}

/**
 * Lay out the host's private directories and config (first start only). libvirtdConf adds or
 * replaces libvirtd.conf settings (values as libvirtd.conf spells them, e.g. { auth_tcp: '"sasl"' });
 * replaced rather than appended because libvirtd reads the first occurrence of a setting.
 */
export async function prepareHost(host: Omit<LabHost, 'hostUuid'>, libvirtdConf: Record<string, string> = {}): Promise<LabHost> {
  const uuidFile = join(host.dir, 'host-uuid');
  if (existsSync(uuidFile)) return { ...host, hostUuid: (await readFile(uuidFile, 'utf8')).trim() };
  await rm(host.dir, { recursive: true, force: true });
  for (const [sub] of BIND_TARGETS) await mkdir(join(host.dir, sub), { recursive: true });
  // libvirtd refuses to start when qemu.conf's migrate_tls_x509_cert_dir does not exist.
  await mkdir(migrationPkiDir(host), { recursive: true });
  if (!existsSync('/etc/libvirt/libvirtd.conf')) {
    throw new Error('/etc/libvirt/libvirtd.conf is missing: install libvirt-daemon-system (apt-get install -y libvirt-daemon-system)');
  }
  await run('cp', ['-a', '/etc/libvirt/.', join(host.dir, 'etc')]);
  // The stock default network would try to create a bridge and start dnsmasq in every host.
  await rm(join(host.dir, 'etc', 'qemu', 'networks', 'autostart'), { recursive: true, force: true });
  // A random UUID: libvirt refuses repeated digits and refuses to migrate between equal UUIDs.
  const hostUuid = randomUUID();
  const settings: Record<string, string> = {
    listen_tls: '0',
    listen_tcp: '1',
    listen_addr: `"${host.address}"`,
    auth_tcp: '"none"',
    auth_unix_rw: '"none"',
    auth_unix_ro: '"none"',
    host_uuid: `"${hostUuid}"`,
    log_outputs: '"3:file:/var/log/libvirt/libvirtd.log"',
    ...libvirtdConf,
  };
  await appendFile(
    join(host.dir, 'etc', 'libvirtd.conf'),
    ['', '# virt-balancer lab', ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`), ''].join('\n'),
  );
  await appendFile(
    join(host.dir, 'etc', 'qemu.conf'),
    [
      '',
      '# virt-balancer lab',
      'security_driver = "none"',
      'cgroup_controllers = [ ]',
      'user = "root"',
      'group = "root"',
      `migration_address = "${host.address}"`,
      `migration_host = "${host.address}"`,
      // Per host (the default /etc/pki/qemu is shared by all lab hosts); read at each TLS migration.
      `migrate_tls_x509_cert_dir = "${migrationPkiDir(host)}"`,
      // Post-copy needs userfaultfd in the destination QEMU (see docs/lab.md).
      'clear_emulator_capabilities = 0',
      '',
    ].join('\n'),
  );
  await appendFile(join(host.dir, 'host-uuid'), hostUuid + '\n');
  return { ...host, hostUuid };
}

function pidFile(host: LabHost, daemon: 'libvirtd' | 'virtlogd'): string {
  return join(host.dir, `${daemon}.pid`);
}

export async function readPid(file: string): Promise<number | undefined> {
  if (!existsSync(file)) return undefined;
  const pid = Number((await readFile(file, 'utf8')).trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function processName(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return '';
  }
}

/** The pid from a pidfile, only if that process is still the daemon we started. */
export async function livePid(file: string, expectedName: string): Promise<number | undefined> {
  const pid = await readPid(file);
  if (pid === undefined || !pidAlive(pid)) return undefined;
  return (await processName(pid)).startsWith(expectedName.slice(0, 15)) ? pid : undefined;
}

export async function hostRunning(host: LabHost): Promise<boolean> {
  return (await livePid(pidFile(host, 'libvirtd'), 'libvirtd')) !== undefined;
}

/** The host's read-write unix socket as seen from outside its namespace (bind-mount source). */
export function hostSocketPath(host: Pick<LabHost, 'dir'>): string {
  return join(host.dir, 'run', 'libvirt-sock');
}

/**
 * Start virtlogd (if needed) and libvirtd for one host, and wait until it answers over TCP, or
 * over readyUri (e.g. the unix socket, for a host whose TCP listener asks for SASL). A libvirtd
 * that exits before answering (CI once saw one leave after `libvirtd -d` returned) is started once
 * more; the error, if it exits again, carries the tail of its log, since a test's cleanup may
 * delete the host's directory.
 */
export async function startHost(host: LabHost, readyUri = host.uri): Promise<void> {
  if (await hostRunning(host)) return;
  try {
    await spawnLibvirtd(host);
    await waitForHost(host, 60_000, readyUri, await readPid(pidFile(host, 'libvirtd')));
  } catch (first) {
    if (!(first instanceof LibvirtdExited)) throw first;
    console.warn(`[lab] ${(first as Error).message}\n[lab] starting libvirtd for ${host.name} once more`);
    await spawnLibvirtd(host);
    await waitForHost(host, 60_000, readyUri, await readPid(pidFile(host, 'libvirtd')));
  }
}

async function spawnLibvirtd(host: LabHost): Promise<void> {
  const logdPid = await livePid(pidFile(host, 'virtlogd'), 'virtlogd');
  const binds = BIND_TARGETS.map(([sub, target]) => `mkdir -p ${target} && mount --bind "${join(host.dir, sub)}" ${target}`).join(' && ');
  const startLibvirtd = `libvirtd -d -l -p "${pidFile(host, 'libvirtd')}"`;
  if (logdPid === undefined) {
    for (const [, target] of BIND_TARGETS) await mkdir(target, { recursive: true });
    await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${binds} && virtlogd -d -p "${pidFile(host, 'virtlogd')}" && ${startLibvirtd}`]);
  } else {
    // Restart inside the namespace virtlogd still holds, so libvirtd finds its running guests.
    await run('nsenter', ['-t', String(logdPid), '-m', 'sh', '-c', startLibvirtd]);
  }
}

/** libvirtd's process ended before it answered: waiting longer cannot help. */
class LibvirtdExited extends Error {}

/** The last lines of a host's libvirtd.log, for an error message ('' when there is none). */
async function logTail(host: Pick<LabHost, 'dir'>, lines = 20): Promise<string> {
  try {
    return (await readFile(join(host.dir, 'log', 'libvirtd.log'), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Wait until the host's libvirtd answers `virsh version` over readyUri. startedPid: the libvirtd
 * just started (its pidfile is written before `libvirtd -d` returns); when it has exited, this
 * stops waiting at once (LibvirtdExited, with the log's tail).
 */
export async function waitForHost(host: LabHost, timeoutMs: number, readyUri = host.uri, startedPid?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pid = startedPid;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      await virsh(readyUri, ['version'], 10_000);
      return;
    } catch (e) {
      lastError = (e as Error).message;
    }
    // Checked after the attempt: a daemon that answered and then exited is not waited for.
    if (pid !== undefined && !pidAlive(pid)) {
      throw new LibvirtdExited(
        `lab host ${host.name}: libvirtd (pid ${pid}) exited before answering: ${lastError}\nlibvirtd.log ends:\n${await logTail(host)}`,
      );
    }
    await sleep(250);
  }
  throw new Error(
    `lab host ${host.name} (${readyUri}) did not answer within ${timeoutMs / 1000} s: ${lastError}\n` +
      `see ${join(host.dir, 'log', 'libvirtd.log')}, which ends:\n${await logTail(host)}`,
  );
}

/** Kill libvirtd only (its guests keep running), as a host whose daemon crashed. */
export async function stopLibvirtd(host: LabHost): Promise<void> {
  const pid = await livePid(pidFile(host, 'libvirtd'), 'libvirtd');
  if (pid === undefined) return;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
}

/** QEMU processes this host started, from libvirt's pidfiles in the host's run directory. */
export async function guestPids(host: LabHost): Promise<number[]> {
  const dir = join(host.dir, 'run', 'qemu');
  if (!existsSync(dir)) return [];
  const pids: number[] = [];
  for (const f of await readdir(dir)) {
    if (!f.endsWith('.pid')) continue;
    const pid = await livePid(join(dir, f), 'qemu-system-x86');
    if (pid !== undefined) pids.push(pid);
  }
  return pids;
}

/** Stop everything this host started: guests, libvirtd, virtlogd (by pid). Mounts die with the namespace. */
export async function stopHost(host: LabHost): Promise<void> {
  const pids = [...(await guestPids(host)), await livePid(pidFile(host, 'libvirtd'), 'libvirtd'), await livePid(pidFile(host, 'virtlogd'), 'virtlogd')].filter(
    (p): p is number => p !== undefined,
  );
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const pid of pids) for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
}
