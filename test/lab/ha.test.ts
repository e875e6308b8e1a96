/**
 * High availability against a real etcd (Debian's etcd-server, three members on loopback) and two
 * `run` processes on the lab's hosts. One small guest; a host in maintenance gives each scenario
 * exactly one move to make, and an 8 MiB/s cap makes it last long enough to interfere with.
 *
 * - The leader SIGKILLed mid-migration: the standby takes over within 15 s, adopts the job from
 *   the shared in-flight record, the VM is migrated exactly once, guest memory intact.
 * - The leader SIGSTOPped mid-migration past its lease, then SIGCONT: the other takes over and
 *   adopts; the woken one starts nothing, its leader write is refused by the fencing check (and
 *   logged), and the two never plan at the same time.
 * - One etcd member down: nothing changes. Quorum lost: the running migration is watched to its
 *   end, nobody starts anything (and both say why); quorum back: the pending move runs.
 * - Fencing on its own: a leader whose lease expired while it ran no code still believes it leads,
 *   and etcd refuses its write (the token is stale).
 * - ha.tls: an etcd member that requires client certificates.
 * - Two `run` on one state directory without ha: the second refuses, naming the first.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readJournal, type JournalEntry } from '../../src/history/index.js';
import { parseConfig } from '../../src/config/index.js';
import { EtcdHa } from '../../src/ha/etcd-ha.js';
import { createLogger } from '../../src/log/logger.js';
import { EtcdCluster, startTlsMember } from '../../lab/etcd.js';
import { RunProcess as Controller } from '../../lab/run-process.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { addressPrefix } from '../../lab/paths.js';
import { run, sleep } from '../../lab/run.js';

const VM = 'ha-vm';
let lab: Lab;
let etcd: EtcdCluster;
let dir: string;
const children: ChildProcess[] = [];
const track = (c: Controller) => (children.push(c.child), c);

function config(name: string, maintenanceHost: string, ha: boolean, electionName: string, metricsListen = ''): { configFile: string; journalFile: string } {
  const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as { hosts: Record<string, unknown>[] };
  const configFile = join(dir, `${name}.yaml`);
  const stateDir = join(dir, `state-${name}`);
  writeFileSync(
    configFile,
    stringify({
      ...base,
      hosts: base.hosts.map((h) => ({ ...h, maintenance: h.name === maintenanceHost })),
      stateDir,
      metrics: { listen: metricsListen },
      loop: { schedule: '*/2 * * * * *', windowSamples: 1 },
      policy: { cooldownSeconds: 600, maxMovesPerTick: 1, allowedTechniques: ['precopy'] },
      migration: { bandwidthMiBps: 8, maxConcurrent: 1, deadlineSeconds: 300 },
      ...(ha ? { ha: { endpoints: etcd.endpoints, electionName, leaseTtlSeconds: 10, retryIntervalSeconds: 1, callTimeoutSeconds: 2, memberName: name } } : {}),
    }),
  );
  return { configFile, journalFile: join(stateDir, 'journal.jsonl') };
}

type Started = Extract<JournalEntry, { type: 'started' }>;
type Outcome = Extract<JournalEntry, { type: 'outcome' }>;

async function entriesOf(c: Controller): Promise<JournalEntry[]> {
  return readJournal(c.journalFile).catch(() => []);
}

async function waitJournal(c: Controller, what: string, predicate: (es: JournalEntry[]) => boolean, timeoutMs: number): Promise<JournalEntry[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const es = await entriesOf(c);
    if (predicate(es)) return es;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${c.tail()}`);
    await sleep(500);
  }
}

/** Start two HA controllers; resolves with [leader, standby] once one leads. */
async function pair(tag: string, maintenanceHost: string, electionName: string, metrics: [string, string] = ['', '']): Promise<[Controller, Controller]> {
  const a = config(`${tag}-a`, maintenanceHost, true, electionName, metrics[0]);
  const b = config(`${tag}-b`, maintenanceHost, true, electionName, metrics[1]);
  // Tracked: a test that fails before stopping them must not leave controllers running (they
  // would campaign in the next run's etcd election and hold its metrics ports).
  const ca = track(new Controller(`${tag}-a`, a.configFile, a.journalFile));
  const cb = track(new Controller(`${tag}-b`, b.configFile, b.journalFile));
  const until = Date.now() + 90_000;
  for (;;) {
    if (ca.logged('became leader').length > 0) return [ca, cb];
    if (cb.logged('became leader').length > 0) return [cb, ca];
    if (Date.now() > until) throw new Error(`no controller became leader in 90 s; ${ca.tail()}\n${cb.tail()}`);
    await sleep(200);
  }
}

/** Times (ms) at which the controller planned or started something. */
function actingTimes(c: Controller): number[] {
  return c.lines.filter((l) => l.msg === 'planned move' || l.msg === 'migration starting').map((l) => l.time as number);
}

describe('HA: active/standby controllers on etcd', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-ha-'));
    etcd = new EtcdCluster();
    await etcd.startFresh();
    await lab.createVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 0, workloadMiB: 64 });
  }, 300_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await lab?.destroyVm(VM).catch(() => {});
    await etcd?.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leader SIGKILLed mid-migration: the standby takes over within 15 s, adopts the job, one migration, memory intact', async () => {
    const from = (await lab.whereIs(VM))!;
    const [leader, standby] = await pair('kill', from, 'ha-kill');
    const es = await waitJournal(leader, 'the leader to start the drain', (e) => e.some((x) => x.type === 'started' && x.vm === VM), 120_000);
    const move = es.find((x) => x.type === 'started' && x.vm === VM) as Started;
    await sleep(2000);
    const before = await lab.heartbeat(VM);
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await leader.exited();
    const elected = await standby.waitFor('became leader', 30_000);
    const takeoverMs = (elected.time as number) - killedAt;
    console.log(`[ha] takeover after SIGKILL: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(15_000);
    const done = await waitJournal(standby, 'the new leader to record the adopted outcome', (e) => e.some((x) => x.type === 'outcome' && x.vm === VM), 240_000);
    expect(
      done.filter((x) => x.type === 'started' && x.vm === VM),
      'the new leader started no second migration',
    ).toHaveLength(0);
    expect(done.some((x) => x.type === 'found-running-job' && x.vm === VM)).toBe(true);
    expect(done.find((x) => x.type === 'outcome' && x.vm === VM)).toMatchObject({
      outcome: 'completed',
      from: move.from,
      to: move.to,
      adoptedAfterRestart: true,
    });
    expect((await entriesOf(leader)).filter((x) => x.type === 'started' && x.vm === VM)).toHaveLength(1);
    expect(await lab.whereIs(VM)).toBe(move.to);
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 30_000 })).status).toBe('OK');
    await standby.stop();
  }, 480_000);

  it('leader SIGSTOPped past its lease mid-migration, then continued: it starts nothing, its write is fenced off, one planner at a time', async () => {
    const from = (await lab.whereIs(VM))!;
    const [leader, standby] = await pair('stop', from, 'ha-stop');
    const es = await waitJournal(leader, 'the leader to start the drain', (e) => e.some((x) => x.type === 'started' && x.vm === VM), 120_000);
    const move = es.find((x) => x.type === 'started' && x.vm === VM) as Started;
    await sleep(1000);
    const before = await lab.heartbeat(VM);
    leader.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const elected = await standby.waitFor('became leader', 30_000);
    // The new leader adopts the job from the shared in-flight record and watches it to its end.
    await waitJournal(standby, 'the new leader to record the adopted outcome', (e) => e.some((x) => x.type === 'outcome' && x.vm === VM), 240_000);
    leader.child.kill('SIGCONT');
    const continuedAt = Date.now();
    // The woken leader's own watcher sees the end of the job too; its shared-history write is refused.
    const refused = await leader.waitFor('fencing refused', 60_000, continuedAt);
    expect(String(refused.reason)).toMatch(/stale|not the leader/);
    await sleep(8000);
    expect(
      leader.lines.some(
        (l) =>
          (l.msg === 'lost leadership' || l.msg === 'stepping down: leadership not confirmed by etcd within one lease TTL') &&
          (l.time as number) >= continuedAt,
      ),
    ).toBe(true);

    const startsOld = (await entriesOf(leader)).filter((x) => x.type === 'started');
    expect(startsOld, 'the old leader started only the one migration, before it was frozen').toHaveLength(1);
    expect(startsOld[0].atMs).toBeLessThan(stoppedAt);
    expect(
      (await entriesOf(standby)).filter((x) => x.type === 'started'),
      'the new leader adopted instead of starting',
    ).toHaveLength(0);
    // One planner at a time: everything the old leader planned or started precedes the new term.
    const termB = elected.time as number;
    expect(actingTimes(leader).every((t) => t < termB)).toBe(true);
    expect(actingTimes(standby).every((t) => t >= termB)).toBe(true);
    expect(await lab.whereIs(VM)).toBe(move.to);
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 30_000 })).status).toBe('OK');
    await leader.stop();
    await standby.stop();
  }, 480_000);

  it('one etcd member down changes nothing; without quorum nobody starts, the running job is watched to its end, and work resumes with quorum', async () => {
    const from = (await lab.whereIs(VM))!;
    const listenA = `${addressPrefix()}221:9464`;
    const listenB = `${addressPrefix()}222:9464`;
    const listen = (c: Controller) => (c.name.endsWith('-a') ? listenA : listenB);
    const [leader, standby] = await pair('quorum', 'none', 'ha-quorum', [listenA, listenB]);
    await sleep(3000);
    // Both serve /healthz with their role, and the leader gauge.
    for (const [c, role, gauge] of [
      [leader, 'leader', 1],
      [standby, 'standby', 0],
    ] as const) {
      await c.waitFor('virt-balancer running', 60_000);
      const health = (await (await fetch(`http://${listen(c)}/healthz`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ role, member: c.name, leader: leader.name });
      expect(await (await fetch(`http://${listen(c)}/metrics`)).text()).toMatch(new RegExp(`^virt_balancer_leader ${gauge}$`, 'm'));
    }
    // One member down: the leader stays leader, nobody changes role.
    const m1DownAt = Date.now();
    await etcd.stop('m1');
    await sleep(15_000);
    for (const c of [leader, standby]) {
      expect(c.logged('lost leadership', m1DownAt)).toHaveLength(0);
      expect(c.logged('became leader', m1DownAt)).toHaveLength(0);
    }
    etcd.start('m1');
    await etcd.waitHealthy(etcd.names, 60_000);
    await leader.stop();
    await standby.stop();

    // Drain `from` with quorum; take quorum away once the move started.
    const [l2, s2] = await pair('quorum2', from, 'ha-quorum');
    const es = await waitJournal(l2, 'the leader to start the drain', (e) => e.some((x) => x.type === 'started' && x.vm === VM), 120_000);
    const move = es.find((x) => x.type === 'started' && x.vm === VM) as Started;
    const lostAt = Date.now();
    await etcd.stop('m1');
    await etcd.stop('m2');
    // Watched to its end without etcd: the outcome is in the leader's journal.
    const done = await waitJournal(l2, 'the outcome of the running move without quorum', (e) => e.some((x) => x.type === 'outcome' && x.vm === VM), 240_000);
    expect(done.find((x) => x.type === 'outcome' && x.vm === VM)).toMatchObject({ outcome: 'completed', to: move.to } satisfies Partial<Outcome>);
    // Both say why they do not act; the leader steps down within its lease.
    for (const c of [l2, s2]) await c.waitFor('etcd not answering (no member reachable or no quorum); no migration starts until it answers', 30_000, lostAt);
    await l2.waitFor('stepping down: leadership not confirmed by etcd within one lease TTL', 30_000, lostAt);
    // A new reason to move (the VM's new host goes into maintenance, SIGHUP): nobody starts it.
    for (const c of [l2, s2]) {
      const cfg = parse(readFileSync(c.configFile, 'utf8')) as { hosts: { name: string; maintenance: boolean }[] };
      cfg.hosts = cfg.hosts.map((h) => ({ ...h, maintenance: h.name === move.to }));
      writeFileSync(c.configFile, stringify(cfg));
      c.child.kill('SIGHUP');
    }
    await sleep(15_000);
    for (const c of [l2, s2]) expect((await entriesOf(c)).filter((x) => x.type === 'started' && x.atMs >= lostAt)).toHaveLength(0);
    // Quorum back: someone leads and drains the VM's new host.
    etcd.start('m1');
    etcd.start('m2');
    const until = Date.now() + 180_000;
    let resumed: JournalEntry | undefined;
    while (!resumed && Date.now() < until) {
      for (const c of [l2, s2]) resumed ??= (await entriesOf(c)).find((x) => x.type === 'outcome' && x.vm === VM && x.from === move.to);
      await sleep(1000);
    }
    expect(resumed, `the drain of ${move.to} after quorum returned; ${l2.tail()}\n${s2.tail()}`).toMatchObject({ outcome: 'completed', from: move.to });
    const before = await lab.heartbeat(VM);
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 30_000 })).status).toBe('OK');
    await l2.stop();
    await s2.stop();
  }, 900_000);

  it('fencing: a leader whose lease expired behind its back (as in a pause) is refused by etcd, though it still believes it leads', async () => {
    await etcd.waitHealthy(etcd.names, 60_000);
    const logger = createLogger({ level: 'silent' });
    const haOf = (memberName: string) =>
      parseConfig({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://127.0.0.1/system' }], ha: { endpoints: etcd.endpoints, electionName: 'ha-fence', memberName } })
        .ha!;
    const a = new EtcdHa(haOf('fa'), { logger });
    const b = new EtcdHa(haOf('fb'), { logger });
    try {
      await a.step();
      expect(a.isLeader()).toBe(true);
      const token = a.term()!;
      // The lease expiring while `a` is frozen: revoked from outside, `a` runs no code meanwhile.
      const etcdctl = (args: string[]) => run('etcdctl', ['--endpoints', etcd.endpoints.join(','), ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
      // The lease ID is an int64: read its digits as text (JSON.parse would round it).
      const leaseId = /"lease":(\d+)/.exec((await etcdctl(['get', 'ha-fence/leader', '-w', 'json'])).stdout)![1];
      await etcdctl(['lease', 'revoke', BigInt(leaseId).toString(16)]);
      await b.step();
      expect(b.isLeader()).toBe(true);
      expect(BigInt(b.term()!)).toBeGreaterThan(BigInt(token));
      expect(a.isLeader(), 'a has not noticed: its last confirmation is younger than the TTL').toBe(true);
      const refusal = await a.commitStart({ vm: 'fenced-vm', vmUuid: 'u-fenced', from: 'lab1', to: 'lab2', technique: 'precopy', startedAtMs: Date.now() });
      expect(refusal).toContain(`fencing token ${token} is stale`);
      expect(a.isLeader(), 'the refusal ends its term').toBe(false);
      expect((await etcdctl(['get', '--prefix', 'ha-fence/inflight/'])).stdout).toBe('');
      expect(await b.commitStart({ vm: 'ok-vm', vmUuid: 'u-ok', from: 'lab1', to: 'lab2', technique: 'precopy', startedAtMs: Date.now() })).toBeUndefined();
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 120_000);

  it('ha.tls: leads through an etcd that requires client certificates; without the client certificate etcd refuses and it stays standby, saying why', async () => {
    const member = await startTlsMember(join(dir, 'etcd-tls'), `${addressPrefix()}210`);
    const logger = createLogger({ level: 'silent' });
    const haOf = (tls: Record<string, string>, memberName: string) =>
      parseConfig({
        hosts: [{ name: 'kvm1', uri: 'qemu+tcp://127.0.0.1/system' }],
        ha: { endpoints: [member.endpoint], electionName: 'ha-tls', callTimeoutSeconds: 2, memberName, tls },
      }).ha!;
    const withCert = new EtcdHa(haOf({ caFile: member.caFile, certFile: member.certFile, keyFile: member.keyFile }, 'with-cert'), { logger });
    const caOnly = new EtcdHa(haOf({ caFile: member.caFile }, 'ca-only'), { logger });
    try {
      const until = Date.now() + 60_000;
      while (!withCert.isLeader() && Date.now() < until) {
        await withCert.step();
        if (!withCert.isLeader()) await sleep(500);
      }
      expect(withCert.isLeader(), withCert.standbyReason()).toBe(true);
      await caOnly.step();
      expect(caOnly.isLeader()).toBe(false);
      expect(caOnly.standbyReason()).toMatch(/^etcd not answering: /);
      expect(await caOnly.commitStart({ vm: 'x', vmUuid: 'u', from: 'a', to: 'b', technique: 'precopy', startedAtMs: Date.now() })).toMatch(/not the leader/);
    } finally {
      await withCert.stop();
      await caOnly.stop();
      member.child.kill('SIGTERM');
    }
    expect(() => new EtcdHa(haOf({ caFile: join(dir, 'missing-ca.pem') }, 'x'), { logger })).toThrow(
      `ha.tls.caFile: cannot read ${join(dir, 'missing-ca.pem')} (ENOENT)`,
    );
  }, 120_000);

  it('two `run` on one state directory without ha: the second refuses and names the first', async () => {
    const { configFile, journalFile } = config('nolock', 'none', false, '');
    const first = track(new Controller('first', configFile, journalFile));
    await first.waitFor('virt-balancer running', 60_000);
    const second = track(new Controller('second', configFile, journalFile));
    expect(await second.exited()).toBe(1);
    const text = second.lines.map((l) => String(l.msg)).join('\n');
    expect(text).toContain(`locked by \`virt-balancer run\` (process ${first.child.pid}`);
    expect(text).toContain('only one `run` per state directory');
    expect(first.child.exitCode).toBeNull();
    await first.stop();
  }, 120_000);
});
