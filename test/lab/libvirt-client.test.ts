/**
 * The libvirt client against real daemons: the test driver through a lab libvirtd for the broad
 * API (checked against virsh on the same daemon), and the lab's QEMU hosts for migration, jobs,
 * dirty rate, events, keepalive and connection loss.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionClosedError, DomainStatsTypes, LibvirtConnection, LibvirtError, MigrateFlags, type DomainEvent } from '../../src/libvirt/index.js';
import { readPid } from '../../lab/hosts.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { sleep, virsh } from '../../lab/run.js';

let lab: Lab;
const created: string[] = [];

beforeAll(async () => {
  lab = await labFromEnv();
});

afterAll(async () => {
  for (const name of created) await lab.destroyVm(name);
});

describe('libvirt client: broad API on the test driver through a daemon', () => {
  let conn: LibvirtConnection;
  beforeAll(async () => {
    conn = await LibvirtConnection.open(lab.host('lab1').testUri);
  });
  afterAll(async () => conn.close());

  it('reports node info as virsh nodeinfo does', async () => {
    const info = await conn.nodeGetInfo();
    const text = (await virsh(lab.host('lab1').testUri, ['nodeinfo'])).stdout;
    const field = (label: string) => text.match(new RegExp(`${label}:\\s+(\\S+)`))![1];
    expect(info.model).toBe(field('CPU model'));
    expect(info.cpus).toBe(Number(field('CPU\\(s\\)')));
    expect(info.mhz).toBe(Number(field('CPU frequency')));
    expect(info.sockets).toBe(Number(field('CPU socket\\(s\\)')));
    expect(info.cores).toBe(Number(field('Core\\(s\\) per socket')));
    expect(info.threads).toBe(Number(field('Thread\\(s\\) per core')));
    expect(info.memoryKiB).toBe(BigInt(field('Memory size')));
  });

  it('lists the domains virsh lists and reads their stats as virsh domstats does', async () => {
    const ours = (await conn.connectListAllDomains()).map((d) => d.name).sort();
    const theirs = (await virsh(lab.host('lab1').testUri, ['list', '--all', '--name'])).stdout
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)
      .sort();
    expect(ours).toEqual(theirs);
    const stats = await conn.connectGetAllDomainStats(0, 0);
    const text = (await virsh(lab.host('lab1').testUri, ['domstats', '--raw'])).stdout;
    for (const record of stats) {
      const section = text.split(/^Domain: /m).find((s) => s.startsWith(`'${record.domain.name}'`))!;
      expect(section, `virsh domstats for ${record.domain.name}`).toBeDefined();
      const virshFields = Object.fromEntries(
        section
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split('='))
          .filter((kv) => kv.length === 2),
      );
      expect(Object.keys(record.params).sort()).toEqual(Object.keys(virshFields).sort());
      for (const [k, v] of Object.entries(record.params)) {
        expect(String(typeof v === 'boolean' ? (v ? 'yes' : 'no') : v), k).toBe(virshFields[k]);
      }
    }
  });

  it('carries libvirt errors with their code and names', async () => {
    const err = await conn.domainLookupByName('no-such-vm').catch((e) => e);
    expect(err).toBeInstanceOf(LibvirtError);
    expect(err.codeName).toBe('VIR_ERR_NO_DOMAIN');
    expect(err.domainName).toBe('VIR_FROM_TEST');
    expect(err.message).toMatch(/Domain not found/);
  });

  it('defines, starts, inspects, tags, destroys and undefines a domain', async () => {
    const xml = `<domain type='test'><name>vb-client-t</name><memory unit='MiB'>128</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`;
    const dom = await conn.domainDefineXml(xml);
    expect((await conn.domainLookupByUuid(dom.uuid)).name).toBe('vb-client-t');
    await conn.domainCreate(dom);
    expect((await conn.domainGetState(dom)).state).toBe(1);
    expect((await conn.domainGetInfo(dom)).nrVirtCpu).toBe(2);
    const ns = 'https://virt-balancer.dev/xmlns/1';
    await conn.domainSetMetadata(dom, 2, '<tags>pinned</tags>', 'vb', ns, 0);
    expect(await conn.domainGetMetadata(dom, 2, ns, 0)).toContain('pinned');
    expect(await conn.domainGetXmlDesc(dom)).toContain('vb-client-t');
    await conn.domainDestroy(dom);
    await conn.domainUndefineFlags(dom);
    await expect(conn.domainLookupByName('vb-client-t')).rejects.toMatchObject({ codeName: 'VIR_ERR_NO_DOMAIN' });
  });

  it('keeps many calls in flight on one connection, each answered by its own reply', async () => {
    const names = (await conn.connectListAllDomains()).map((d) => d.name);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? conn.connectGetHostname() : conn.domainLookupByName(names[i % names.length]).then((d) => d.name))),
    );
    for (const [i, r] of results.entries()) expect(r).toBe(i % 2 ? results[1] : names[i % names.length]);
  });

  it('connects over the unix socket too', async () => {
    const socket = join(lab.host('lab2').dir, 'run', 'libvirt-sock');
    const local = await LibvirtConnection.open(`test+unix:///default?socket=${socket}`);
    expect((await local.nodeGetInfo()).cpus).toBeGreaterThan(0);
    await local.close();
  });
});

describe('libvirt client: connection loss', () => {
  it('rejects every pending call with a connection-closed error when the daemon dies mid-call', async () => {
    const conn = await LibvirtConnection.open(lab.host('lab3').uri, { keepaliveIntervalSeconds: 0 });
    const closed = new Promise<Error>((r) => conn.once('close', r));
    const pid = (await readPid(join(lab.host('lab3').dir, 'libvirtd.pid')))!;
    try {
      // Freeze the daemon first so the calls are certainly still pending when it dies.
      process.kill(pid, 'SIGSTOP');
      const calls = Array.from({ length: 50 }, () =>
        conn.connectGetAllDomainStats(0, 0).then(
          () => 'ok',
          (e) => e,
        ),
      );
      await sleep(200);
      await lab.stopHost('lab3');
      const outcomes = await Promise.all(calls);
      expect(outcomes).toHaveLength(50);
      for (const outcome of outcomes) expect(outcome).toBeInstanceOf(ConnectionClosedError);
      expect((await closed).message).toMatch(/closed|failed/);
      await expect(conn.connectGetHostname()).rejects.toBeInstanceOf(ConnectionClosedError);
    } finally {
      await lab.startHost('lab3');
    }
  });

  it('closes with a clear reason when the peer stops answering keepalives', async () => {
    const conn = await LibvirtConnection.open(lab.host('lab3').uri, { keepaliveIntervalSeconds: 1, keepaliveCount: 2 });
    const pid = (await readPid(join(lab.host('lab3').dir, 'libvirtd.pid')))!;
    const closed = new Promise<Error>((r) => conn.once('close', r));
    process.kill(pid, 'SIGSTOP');
    try {
      const reason = await Promise.race([closed, sleep(15_000).then(() => new Error('no close within 15 s'))]);
      expect(reason.message).toMatch(/did not answer 2 keepalive probes sent every 1 s/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});

describe('libvirt client: QEMU hosts, migration and jobs', () => {
  let source: LibvirtConnection;
  let target: LibvirtConnection;
  beforeAll(async () => {
    source = await LibvirtConnection.open(lab.host('lab1').uri);
    target = await LibvirtConnection.open(lab.host('lab2').uri);
  });
  afterAll(async () => {
    await source.close();
    await target.close();
  });

  it('measures a dirty rate and sets/gets migration speed and downtime', async () => {
    created.push('cl-dirty');
    await lab.createVm({ name: 'cl-dirty', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 16, workloadMiB: 48 });
    const dom = await source.domainLookupByName('cl-dirty');
    await source.domainStartDirtyRateCalc(dom, 1);
    let rate: number | undefined;
    for (let i = 0; i < 20 && rate === undefined; i++) {
      await sleep(500);
      const [rec] = (await source.connectGetAllDomainStats(DomainStatsTypes.DIRTYRATE, 0)).filter((r) => r.domain.name === 'cl-dirty');
      if (rec.params['dirtyrate.calc_status'] === 2) rate = Number(rec.params['dirtyrate.megabytes_per_second']);
    }
    expect(rate).toBeGreaterThan(2);
    await source.domainMigrateSetMaxSpeed(dom, 77);
    expect(await source.domainMigrateGetMaxSpeed(dom)).toBe(77);
    await source.domainMigrateSetMaxDowntime(dom, 123);
    expect(await source.domainMigrateGetMaxDowntime(dom)).toBe(123);
  });

  it('migrates peer-to-peer while stats calls and events flow on the same connection; the guest is intact', async () => {
    created.push('cl-mig');
    await lab.createVm({ name: 'cl-mig', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 4, workloadMiB: 32 });
    const before = await lab.heartbeat('cl-mig');
    const events: DomainEvent[] = [];
    await source.subscribeDomainEvents();
    source.on('domainEvent', (e: DomainEvent) => events.push(e));
    const dom = await source.domainLookupByName('cl-mig');
    const flags = MigrateFlags.LIVE | MigrateFlags.PEER2PEER | MigrateFlags.PERSIST_DEST | MigrateFlags.UNDEFINE_SOURCE;
    // No bandwidth limit: a second pre-copy pass corrupts TCG guests on these machines (docs/lab.md).
    const migration = source.domainMigratePerform3Params(dom, lab.host('lab2').uri, { uri: `tcp://${lab.host('lab2').address}` }, flags);
    let statsCallsDuring = 0;
    let sawRunningJob = false;
    let done = false;
    migration.finally(() => (done = true));
    while (!done) {
      const job = await source.domainGetJobStats(dom).catch(() => undefined);
      if (job && job.type !== 0 && Number(job.params.data_total ?? 0) > 0) sawRunningJob = true;
      statsCallsDuring++;
      await sleep(50);
    }
    await migration;
    expect(statsCallsDuring).toBeGreaterThan(1);
    expect(sawRunningJob).toBe(true);
    expect((await target.domainGetState(await target.domainLookupByName('cl-mig'))).state).toBe(1);
    await expect(source.domainLookupByName('cl-mig')).rejects.toThrow();
    const completed = events.find((e) => e.kind === 'jobCompleted' && e.domain.name === 'cl-mig');
    expect(completed, 'job-completed event').toBeDefined();
    if (completed?.kind === 'jobCompleted') expect(Number(completed.params.memory_total)).toBeGreaterThan(100 * 1024 * 1024);
    expect(events.some((e) => e.kind === 'lifecycle' && e.domain.name === 'cl-mig')).toBe(true);
    const after = await lab.waitForHeartbeat('cl-mig', { afterSeq: before.seq + 2, timeoutMs: 30_000 });
    expect(after.status).toBe('OK');
  });

  it('aborts a migration that cannot converge; the VM keeps running on the source, memory intact', async () => {
    created.push('cl-abort');
    await lab.createVm({ name: 'cl-abort', host: 'lab1', vcpus: 1, memoryMiB: 256, cpuBusyPercent: 20, dirtyMiBps: 40, workloadMiB: 96 });
    const dom = await source.domainLookupByName('cl-abort');
    const migration = source
      .domainMigratePerform3Params(
        dom,
        lab.host('lab2').uri,
        { uri: `tcp://${lab.host('lab2').address}`, bandwidthMiBps: 8 },
        MigrateFlags.LIVE | MigrateFlags.PEER2PEER,
      )
      .then(
        () => 'completed',
        (e: Error) => e,
      );
    await sleep(4000);
    await source.domainAbortJob(dom);
    const outcome = await migration;
    expect(outcome).toBeInstanceOf(LibvirtError);
    expect((outcome as LibvirtError).codeName).toBe('VIR_ERR_OPERATION_ABORTED');
    expect(await lab.whereIs('cl-abort')).toBe('lab1');
    expect((await source.domainGetState(dom)).state).toBe(1);
    expect((await source.domainGetJobStats(dom)).type).toBe(0); // no job left behind
    const beat = await lab.heartbeat('cl-abort');
    expect((await lab.waitForHeartbeat('cl-abort', { afterSeq: beat.seq, timeoutMs: 20_000 })).status).toBe('OK');
  });
  // Switching to post-copy through this client is proven in lab-techniques.test.ts (hybrid).
});
