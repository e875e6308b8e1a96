/**
 * The TLS and SSH transports (and the SASL refusal) against a real libvirtd. A one-host lab of its
 * own (own directory, own loopback address, so the shared lab is untouched) whose libvirtd listens
 * for TLS with a throwaway PKI made here with openssl, asks for SASL on plain TCP, and is reached
 * through a private sshd started here. Every answer is checked against virsh over the same URI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LibvirtAuthError, LibvirtConnection } from '../../src/libvirt/index.js';
import { describeHost, hostSocketPath, livePid, prepareHost, startHost, stopHost, stopLibvirtd, type LabHost } from '../../lab/hosts.js';
import { ensureLabPackages } from '../../lab/install.js';
import { hostAddress } from '../../lab/paths.js';
import { issueCertificate, makeCa } from '../../lab/pki.js';
import { pidAlive, run, sleep, virsh } from '../../lab/run.js';

// Not the shared lab's 127.0.0.x nor lab-down.test.ts's 127.0.19.x.
const ADDRESS_PREFIX = '127.0.14.';
const address = hostAddress(ADDRESS_PREFIX, 0);
const DOMAIN = 'vb-transports-a';
const TMP = '/var/tmp';
const ROOT_PREFIX = 'vb-transports-test-';

let root: string;
let host: LabHost;
let unixUri: string;
let pki: { caDir: string; good: string; rogueClient: string; serverCert: string; serverKey: string; wrongNameCert: string; wrongNameKey: string };

beforeAll(async () => {
  await ensureLabPackages(() => {}, 'tests');
  await removeLeftovers();
  root = mkdtempSync(join(TMP, ROOT_PREFIX));
  pki = await makePki(join(root, 'pki'));
  host = await prepareHost(describeHost(join(root, 'hosts'), 0, address), {
    listen_tls: '1',
    auth_tls: '"none"',
    // Plain TCP asks for SASL, which the client must refuse clearly; the lab is managed over the unix socket.
    auth_tcp: '"sasl"',
    key_file: `"${pki.serverKey}"`,
    cert_file: `"${pki.serverCert}"`,
    ca_file: `"${join(pki.caDir, 'cacert.pem')}"`,
  });
  unixUri = `qemu+unix:///system?socket=${hostSocketPath(host)}`;
  await startHost(host, unixUri);
  // An inactive domain, so the domain lists compared below are not trivially empty.
  const xml = join(root, `${DOMAIN}.xml`);
  await writeFile(xml, `<domain type='qemu'><name>${DOMAIN}</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`);
  await virsh(unixUri, ['define', xml]);
});

afterAll(async () => {
  if (host) await stopHost(host);
  if (root) await rm(root, { recursive: true, force: true });
});

/** What virsh says about the host over uri, in the shapes our client returns. */
async function virshView(uri: string): Promise<{ hostname: string; domains: string[]; nodeinfo: Record<string, string> }> {
  const hostname = (await virsh(uri, ['hostname'], 30_000)).stdout.trim();
  const domains = (await virsh(uri, ['list', '--all', '--name'], 30_000)).stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
  const text = (await virsh(uri, ['nodeinfo'], 30_000)).stdout;
  const nodeinfo = Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.split(/:\s+/))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k.trim(), v.trim()]),
  );
  return { hostname, domains, nodeinfo };
}

async function expectSameAsVirsh(conn: LibvirtConnection, virshUri: string): Promise<void> {
  const theirs = await virshView(virshUri);
  expect(theirs.domains).toContain(DOMAIN);
  expect(await conn.connectGetHostname()).toBe(theirs.hostname);
  expect((await conn.connectListAllDomains()).map((d) => d.name).sort()).toEqual(theirs.domains);
  const info = await conn.nodeGetInfo();
  expect(info.model).toBe(theirs.nodeinfo['CPU model']);
  expect(info.cpus).toBe(Number(theirs.nodeinfo['CPU(s)']));
  expect(info.mhz).toBe(Number(theirs.nodeinfo['CPU frequency'].replace(/\s*MHz$/, '')));
  expect(info.memoryKiB).toBe(BigInt(theirs.nodeinfo['Memory size'].replace(/\s*KiB$/, '')));
}

/** Time a promise that must fail, so a refusal that hangs shows up as a failure, not a timeout. */
async function failure(promise: Promise<unknown>): Promise<{ error: Error; elapsedMs: number }> {
  const started = Date.now();
  const error = await promise.then(
    (v) => {
      if (v instanceof LibvirtConnection) void v.close();
      return new Error('expected a failure, but it succeeded');
    },
    (e: Error) => e,
  );
  return { error, elapsedMs: Date.now() - started };
}

describe('TLS transport: qemu+tls:// with client certificates', () => {
  const tlsUri = () => `qemu+tls://${address}/system?pkipath=${pki.good}`;

  it('connects with ?pkipath= and answers as virsh does over the same URI', async () => {
    const conn = await LibvirtConnection.open(tlsUri());
    try {
      await expectSameAsVirsh(conn, tlsUri());
    } finally {
      await conn.close();
    }
  });

  it('connects with the tls option instead of ?pkipath=', async () => {
    const conn = await LibvirtConnection.open(`qemu+tls://${address}/system`, {
      tls: { caFile: join(pki.good, 'cacert.pem'), certFile: join(pki.good, 'clientcert.pem'), keyFile: join(pki.good, 'clientkey.pem') },
    });
    try {
      await expectSameAsVirsh(conn, tlsUri());
    } finally {
      await conn.close();
    }
  });

  it('says the server refused a client certificate its CA did not sign, without hanging', async () => {
    const { error, elapsedMs } = await failure(LibvirtConnection.open(`qemu+tls://${address}/system?pkipath=${pki.rogueClient}`));
    expect(error.message).toMatch(/the server refused our client certificate after the TLS handshake/);
    expect(error.message).toContain(`qemu+tls://${address}/system`);
    expect(elapsedMs).toBeLessThan(5_000);
    // virsh refuses it too (it checks its own certificate against its CA before connecting).
    await expect(virsh(`qemu+tls://${address}/system?pkipath=${pki.rogueClient}`, ['hostname'], 30_000)).rejects.toThrow();
  });
});

describe('SASL on plain TCP', () => {
  it('is refused with a LibvirtAuthError naming SASL and auth_tcp', async () => {
    const { error } = await failure(LibvirtConnection.open(`qemu+tcp://${address}/system`));
    expect(error).toBeInstanceOf(LibvirtAuthError);
    expect(error.message).toMatch(/asks for SASL authentication/);
    expect(error.message).toMatch(/auth_tcp = "none"/);
  });
});

describe('SSH transport: qemu+ssh:// through a private sshd', () => {
  let sshd: { process: ChildProcess; port: number; stderr: () => string };
  let clientKey: string;
  let sshWrapper: string;
  // Keep the client away from /root/.ssh: no known_hosts written, no user config read.
  const sshArgs = [
    '-F',
    '/dev/null',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'LogLevel=ERROR',
  ];
  const rootSshBefore = existsSync('/root/.ssh') ? readdirSync('/root/.ssh').sort() : undefined;

  beforeAll(async () => {
    const dir = join(root, 'ssh');
    await mkdir(dir, { recursive: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vb-transports-host', '-f', join(dir, 'host_key')]);
    clientKey = join(dir, 'client_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vb-transports-client', '-f', clientKey]);
    await copyFile(`${clientKey}.pub`, join(dir, 'authorized_keys'));
    // virsh cannot be given ssh options, only an ssh binary (?command=): this one adds them.
    sshWrapper = join(dir, 'ssh');
    await writeFile(sshWrapper, `#!/bin/sh\nexec ssh ${sshArgs.join(' ')} "$@"\n`);
    await chmod(sshWrapper, 0o755);
    sshd = await startSshd(dir);
  });

  afterAll(async () => {
    const pid = sshd?.process.pid;
    if (pid !== undefined && pidAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(50);
    }
  });

  const sshUri = (extra = '') => `qemu+ssh://root@${address}:${sshd.port}/system?socket=${hostSocketPath(host)}&keyfile=${clientKey}${extra}`;

  it('reaches libvirtd through virt-ssh-helper on the far side and answers as virsh does over the same URI', async () => {
    const uri = sshUri(`&command=${sshWrapper}`);
    const conn = await LibvirtConnection.open(uri);
    try {
      expect(await remoteCommands(sshd.process.pid!)).toContain('virt-ssh-helper');
      await expectSameAsVirsh(conn, uri);
    } finally {
      await conn.close();
    }
  });

  it('reaches the ?socket= path through nc -U when ?netcat= asks for it (sshArgs option)', async () => {
    const conn = await LibvirtConnection.open(sshUri('&netcat=nc'), { sshArgs });
    try {
      const commands = await remoteCommands(sshd.process.pid!);
      expect(commands.some((c) => c.startsWith('nc'))).toBe(true);
      expect(commands).not.toContain('virt-ssh-helper');
      await expectSameAsVirsh(conn, sshUri(`&netcat=nc&command=${sshWrapper}`));
    } finally {
      await conn.close();
    }
  });

  it('says why when sshd refuses the key, without hanging', async () => {
    const otherKey = join(root, 'ssh', 'other_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    const uri = `qemu+ssh://root@${address}:${sshd.port}/system?keyfile=${otherKey}`;
    const { error, elapsedMs } = await failure(LibvirtConnection.open(uri, { sshArgs }));
    expect(error.message).toMatch(/ssh to .* exited with code 255: .*Permission denied \(publickey\)/);
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('left /root/.ssh as it was', () => {
    expect(existsSync('/root/.ssh') ? readdirSync('/root/.ssh').sort() : undefined).toEqual(rootSshBefore);
  });
});

describe('TLS transport: a server certificate for another name', () => {
  // Last in the file: it restarts libvirtd with the wrong certificate and leaves it so (a restart
  // costs up to 10 s on a busy machine), so nothing after it may use TLS.
  it('is rejected, as virsh rejects it', async () => {
    await restartWithServerCert(pki.wrongNameCert, pki.wrongNameKey);
    const uri = `qemu+tls://${address}/system?pkipath=${pki.good}`;
    const { error, elapsedMs } = await failure(LibvirtConnection.open(uri));
    expect(error.message).toMatch(new RegExp(`cannot connect to .*IP: ${address.replace(/\./g, '\\.')} is not in the cert's list`));
    expect(elapsedMs).toBeLessThan(5_000);
    await expect(virsh(uri, ['hostname'], 30_000)).rejects.toThrow(/owner does not match the hostname/);
  });
});

/**
 * A run killed before afterAll leaves its libvirtd and sshd holding this test's address: stop
 * them (by the pids in their own directories) and remove those directories.
 */
async function removeLeftovers(): Promise<void> {
  for (const name of readdirSync(TMP)) {
    if (!name.startsWith(ROOT_PREFIX)) continue;
    const dir = join(TMP, name);
    const sshdPid = await livePid(join(dir, 'ssh', 'sshd.pid'), 'sshd');
    if (sshdPid !== undefined) process.kill(sshdPid, 'SIGKILL');
    await stopHost({ ...describeHost(join(dir, 'hosts'), 0, address), hostUuid: '' });
    await rm(dir, { recursive: true, force: true });
  }
}

/** Restart the lab libvirtd with another server certificate (same paths in libvirtd.conf). */
async function restartWithServerCert(cert: string, key: string): Promise<void> {
  await stopLibvirtd(host);
  await copyFile(cert, pki.serverCert);
  await copyFile(key, pki.serverKey);
  await startHost(host, unixUri);
}

/**
 * A throwaway PKI: a CA; a server certificate for the lab address (and one for another address);
 * a client certificate; and a client certificate from a second, unknown CA. The client
 * directories are laid out as libvirt's ?pkipath= expects (cacert.pem, clientcert.pem, clientkey.pem).
 */
async function makePki(dir: string): Promise<typeof pki> {
  const caDir = join(dir, 'ca');
  const good = join(dir, 'client');
  const rogueClient = join(dir, 'rogue-client');
  const serverDir = join(dir, 'server');
  for (const d of [caDir, good, rogueClient, serverDir, join(dir, 'rogue-ca')]) await mkdir(d, { recursive: true });
  const ca = join(caDir, 'ca');
  const rogueCa = join(dir, 'rogue-ca', 'ca');
  await makeCa(ca, 'vb-transports test CA');
  await makeCa(rogueCa, 'vb-transports unknown CA');
  await copyFile(`${ca}cert.pem`, join(caDir, 'cacert.pem'));
  await issueCertificate(
    ca,
    address,
    ['extendedKeyUsage=serverAuth', `subjectAltName=IP:${address}`],
    join(caDir, 'serverkey.pem'),
    join(caDir, 'servercert.pem'),
  );
  await issueCertificate(
    ca,
    'elsewhere.invalid',
    ['extendedKeyUsage=serverAuth', 'subjectAltName=DNS:elsewhere.invalid,IP:127.0.14.99'],
    join(caDir, 'wrongkey.pem'),
    join(caDir, 'wrongcert.pem'),
  );
  await issueCertificate(ca, 'vb-transports-client', ['extendedKeyUsage=clientAuth'], join(good, 'clientkey.pem'), join(good, 'clientcert.pem'));
  await issueCertificate(
    rogueCa,
    'vb-transports-rogue',
    ['extendedKeyUsage=clientAuth'],
    join(rogueClient, 'clientkey.pem'),
    join(rogueClient, 'clientcert.pem'),
  );
  await copyFile(`${ca}cert.pem`, join(good, 'cacert.pem'));
  await copyFile(`${ca}cert.pem`, join(rogueClient, 'cacert.pem'));
  // libvirtd reads its own copies, which the wrong-name test swaps.
  await copyFile(join(caDir, 'servercert.pem'), join(serverDir, 'servercert.pem'));
  await copyFile(join(caDir, 'serverkey.pem'), join(serverDir, 'serverkey.pem'));
  return {
    caDir,
    good,
    rogueClient,
    serverCert: join(serverDir, 'servercert.pem'),
    serverKey: join(serverDir, 'serverkey.pem'),
    wrongNameCert: join(caDir, 'wrongcert.pem'),
    wrongNameKey: join(caDir, 'wrongkey.pem'),
  };
}

async function freePort(onAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, onAddress, () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * sshd with its own config, host key and authorized key, run inside the lab host's mount
 * namespace: a login there sees that host's /run/libvirt, as a login on a real hypervisor would.
 */
async function startSshd(dir: string): Promise<{ process: ChildProcess; port: number; stderr: () => string }> {
  const port = await freePort(address);
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `ListenAddress ${address}:${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The key files live under /var/tmp (world-writable), which StrictModes would refuse.
      'StrictModes no',
      'AllowUsers root',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  // sshd's privilege separation directory; the packaged service would create it the same way.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const virtlogd = await livePid(join(host.dir, 'virtlogd.pid'), 'virtlogd');
  if (virtlogd === undefined) throw new Error(`the lab host's virtlogd (namespace holder) is not running: ${host.dir}`);
  // nsenter execs sshd, so this pid is sshd's own.
  const child = spawn('nsenter', ['-t', String(virtlogd), '-m', '/usr/sbin/sshd', '-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with code ${child.exitCode}: ${stderr.trim()}`);
    const listening = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: address, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (listening) return { process: child, port, stderr: () => stderr };
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${address}:${port} within 15 s: ${stderr.trim()}`);
    await sleep(100);
  }
}

/** Command names of every process under sshd: what the ssh login ran on the far side. */
async function remoteCommands(sshdPid: number): Promise<string[]> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      /* exited meanwhile */
    }
  }
  const isUnder = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === sshdPid) return true;
    return false;
  };
  const names: string[] = [];
  for (const pid of parents.keys()) {
    if (!isUnder(pid)) continue;
    try {
      names.push(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      /* exited meanwhile */
    }
  }
  return names;
}
