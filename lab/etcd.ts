/**
 * A three-member etcd cluster on loopback for the HA tests: Debian's etcd-server (3.4), members
 * on the lab's address prefix + 201..203 (client port 2379, peer port 2380), data under
 * VB_ETCD_DIR (default <lab dir>/etcd). Members can be stopped and started one by one to take
 * quorum away and give it back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addressPrefix, labPaths } from './paths.js';
import { run, sleep } from './run.js';

export class EtcdCluster {
  readonly names = ['m1', 'm2', 'm3'];
  private readonly procs = new Map<string, ChildProcess>();
  readonly dataRoot: string;
  private readonly prefix: string;

  constructor(dataRoot = process.env.VB_ETCD_DIR ?? join(labPaths().root, 'etcd')) {
    this.dataRoot = dataRoot;
    this.prefix = addressPrefix();
  }

  address(name: string): string {
    return `${this.prefix}${201 + this.names.indexOf(name)}`;
  }

  get endpoints(): string[] {
    return this.names.map((n) => `http://${this.address(n)}:2379`);
  }

  /** Start all members on fresh data directories and wait until the cluster answers. */
  async startFresh(): Promise<void> {
    rmSync(this.dataRoot, { recursive: true, force: true });
    mkdirSync(this.dataRoot, { recursive: true });
    for (const n of this.names) this.start(n);
    await this.waitHealthy(this.names, 60_000);
  }

  start(name: string): void {
    if (this.procs.has(name)) return;
    const a = this.address(name);
    const cluster = this.names.map((n) => `${n}=http://${this.address(n)}:2380`).join(',');
    const log = openSync(join(this.dataRoot, `${name}.log`), 'a');
    const child = spawn(
      'etcd',
      [
        '--name',
        name,
        '--data-dir',
        join(this.dataRoot, name),
        '--listen-client-urls',
        `http://${a}:2379`,
        '--advertise-client-urls',
        `http://${a}:2379`,
        '--listen-peer-urls',
        `http://${a}:2380`,
        '--initial-advertise-peer-urls',
        `http://${a}:2380`,
        '--initial-cluster',
        cluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        `vb-ha-${this.prefix}`,
        '--auto-compaction-mode',
        'revision',
        '--auto-compaction-retention',
        '1000',
        // A busy 2-core CI machine: etcd's defaults (100 ms / 1 s) flap elections under load.
        '--heartbeat-interval',
        '250',
        '--election-timeout',
        '2500',
      ],
      { stdio: ['ignore', log, log] },
    );
    closeSync(log);
    this.procs.set(name, child);
    child.once('exit', () => this.procs.delete(name));
  }

  /** Stop one member (SIGTERM, then SIGKILL after 10 s). */
  async stop(name: string): Promise<void> {
    const child = this.procs.get(name);
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    for (const n of this.names) await this.stop(n);
  }

  /** Wait until every named member reports healthy (a write through the cluster succeeds). */
  async waitHealthy(names: string[], timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    const endpoints = names.map((n) => `http://${this.address(n)}:2379`).join(',');
    for (;;) {
      const problem = await run('etcdctl', ['--endpoints', endpoints, '--command-timeout=3s', 'endpoint', 'health'], {
        env: { ...process.env, ETCDCTL_API: '3' },
        timeoutMs: 15_000,
      }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      if (problem === undefined) return;
      if (Date.now() > until) throw new Error(`etcd members ${names.join(', ')} not healthy after ${timeoutMs} ms: ${problem}`);
      await sleep(500);
    }
  }
}

/**
 * One etcd member serving TLS with client-certificate auth on `address`:2379, with a CA, a server
 * certificate for that IP and a client certificate made by openssl in `dir`. For the ha.tls test.
 */
export async function startTlsMember(
  dir: string,
  address: string,
): Promise<{ child: ChildProcess; endpoint: string; caFile: string; certFile: string; keyFile: string }> {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const ssl = (args: string[]) => run('openssl', args, { timeoutMs: 60_000 });
  await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=vb-test-etcd-ca', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  for (const [name, ext] of [
    ['server', `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth,clientAuth\n`],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)]);
    writeFileSync(f(`${name}.ext`), ext);
    await ssl([
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    ]);
  }
  const log = openSync(f('etcd.log'), 'a');
  const endpoint = `https://${address}:2379`;
  const child = spawn(
    'etcd',
    [
      '--name',
      'tls1',
      '--data-dir',
      f('data'),
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      `http://${address}:2380`,
      '--initial-advertise-peer-urls',
      `http://${address}:2380`,
      '--initial-cluster',
      `tls1=http://${address}:2380`,
      '--cert-file',
      f('server.pem'),
      '--key-file',
      f('server.key'),
      '--trusted-ca-file',
      f('ca.pem'),
      '--client-cert-auth',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  return { child, endpoint, caFile: f('ca.pem'), certFile: f('client.pem'), keyFile: f('client.key') };
}
