/**
 * What libvirt itself answers where issue 14's accounting depends on it, against real libvirtd:
 * shut-off domains (what libvirt reports for them, and that the collector does not count them),
 * free hugepages (virNodeGetFreePages against the kernel's own counts, with a hugepage-backed
 * guest running), and host identity (a second libvirtd with the same host_uuid).
 *
 * Hugepages: 100 pages of 2 MiB are reserved for the test (vm.nr_hugepages, restored after) and a
 * hugetlbfs is mounted only in the mount namespace of an extra lab host of this test's own.
 */
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { collectOnce } from '../../src/cluster/collector.js';
import { HostConnections } from '../../src/cluster/connections.js';
import { parseConfig, type Config } from '../../src/config/index.js';
import { DomainState, DomainStatsTypes, LibvirtConnection } from '../../src/libvirt/index.js';
import { createLogger } from '../../src/log/logger.js';
import { plan } from '../../src/policy/engine.js';
import { policySchema } from '../../src/config/policy-schema.js';
import { describeHost, livePid, prepareHost, startHost, stopHost, stopLibvirtd, type LabHost } from '../../lab/hosts.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { addressPrefix, hostAddress } from '../../lab/paths.js';
import { run, virsh } from '../../lab/run.js';
import { domainXml } from '../../lab/vm.js';

const MiB = 2 ** 20;
const logger = createLogger({ level: 'silent' });
const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages';
const FREE_2M = '/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages';
let lab: Lab;
let extraDir: string;
const extraHosts: LabHost[] = [];
const vms: string[] = [];
let hugepagesBefore: string | undefined;

/** The lab's config with other hosts. */
function labConfig(hosts: Record<string, unknown>[]): Config {
  const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as Record<string, unknown>;
  return parseConfig({ ...base, hosts, log: { level: 'silent' } });
}

/** A lab host of this test's own, at an address of the lab's prefix no standard lab host uses. */
async function extraHost(name: string, index: number, libvirtdConf: Record<string, string> = {}): Promise<LabHost> {
  const host = await prepareHost({ ...describeHost(extraDir, index, hostAddress(addressPrefix(), index)), name, dir: join(extraDir, name) }, libvirtdConf);
  await startHost(host);
  extraHosts.push(host);
  return host;
}

describe('accounting against real libvirtd', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    extraDir = join(lab.paths.root, 'accounting-hosts');
    await mkdir(extraDir, { recursive: true });
  });
  afterAll(async () => {
    for (const name of vms) await lab.destroyVm(name).catch(() => {});
    for (const host of extraHosts) {
      await virsh(host.uri, ['destroy', 'acct-hp'], 15_000).catch(() => {});
      await stopHost(host);
    }
    await rm(extraDir, { recursive: true, force: true });
    if (hugepagesBefore !== undefined) await writeFile(NR_HUGEPAGES, hugepagesBefore);
  });

  it('a shut-off domain: libvirt still reports its configured memory; with capacity: it is not counted as used', async () => {
    const lab1 = lab.host('lab1');
    vms.push('acct-off', 'acct-run');
    // A 4 GiB definition that is never started (a template), and a small running guest.
    const off = domainXml(
      { name: 'acct-off', host: 'lab1', vcpus: 1, memoryMiB: 4096, cpuBusyPercent: 0, dirtyMiBps: 0, workloadMiB: 16 },
      { kernel: '/nonexistent', initrd: '/nonexistent' },
      '/dev/null',
    );
    const offFile = join(lab1.dir, 'acct-off.xml');
    await writeFile(offFile, off);
    await virsh(lab1.uri, ['define', offFile]);
    await lab.createVm({ name: 'acct-run', host: 'lab1', vcpus: 1, memoryMiB: 160, cpuBusyPercent: 0, dirtyMiBps: 0, workloadMiB: 16 });

    const conn = await LibvirtConnection.open(lab1.uri);
    let runningBytes = 0;
    try {
      const records = await conn.connectGetAllDomainStats(DomainStatsTypes.STATE | DomainStatsTypes.BALLOON);
      const offRecord = records.find((r) => r.domain.name === 'acct-off')!;
      expect(offRecord.params['state.state']).toBe(DomainState.SHUTOFF);
      // What made shut-off definitions count: libvirt reports balloon.current from the definition.
      expect(Number(offRecord.params['balloon.current'])).toBe(4096 * 1024);
      for (const r of records) if (r.params['state.state'] === DomainState.RUNNING) runningBytes += Number(r.params['balloon.current']) * 1024;
    } finally {
      await conn.close();
    }
    expect(runningBytes).toBeGreaterThanOrEqual(160 * MiB);

    const config = labConfig([{ name: 'lab1', uri: lab1.uri, capacity: { cpuCount: 4, memoryMiB: 8192 } }]);
    const { state, close } = await collectOnce(config, { logger, sampleIntervalMs: 500 });
    try {
      const host = state.hosts.find((h) => h.name === 'lab1')!;
      expect(host.up).toBe(true);
      expect(state.vms.find((v) => v.name === 'acct-off')?.state).toBe('shutoff');
      expect(host.memoryUsedBytes).toBe(runningBytes);
    } finally {
      await close();
    }
  });

  it('free hugepages: the collector reads what the kernel counts, and a hugepage-backed guest takes its pages', async () => {
    hugepagesBefore = (await readFile(NR_HUGEPAGES, 'utf8')).trim();
    // Exactly 100 free pages, whatever an earlier run left reserved: the guest's 80 must not fit twice.
    const inUse = Number(hugepagesBefore) - Number((await readFile(FREE_2M, 'utf8')).trim());
    const reserved = inUse + 100;
    await writeFile(NR_HUGEPAGES, String(reserved));
    expect(Number((await readFile(NR_HUGEPAGES, 'utf8')).trim()), 'the kernel could not reserve 100 hugepages').toBe(reserved);

    // A host whose namespace has a hugetlbfs for QEMU (libvirt looks for it when it starts).
    const hp = await extraHost('acct-hp', 7);
    await mkdir(join(hp.dir, 'lib', 'hugepages'), { recursive: true });
    await appendFile(join(hp.dir, 'etc', 'qemu.conf'), 'hugetlbfs_mount = "/var/lib/libvirt/hugepages"\n');
    const logd = await livePid(join(hp.dir, 'virtlogd.pid'), 'virtlogd');
    await run('nsenter', ['-t', String(logd), '-m', 'mount', '-t', 'hugetlbfs', '-o', 'pagesize=2M', 'hugetlbfs', '/var/lib/libvirt/hugepages']);
    await stopLibvirtd(hp);
    await startHost(hp);

    const config = labConfig([{ name: 'acct-hp', uri: hp.uri }, ...lab.hosts.filter((h) => h.name !== 'lab1').map((h) => ({ name: h.name, uri: h.uri }))]);
    const before = await collectOnce(config, { logger, sampleIntervalMs: 200 });
    const kernelFreeBefore = Number((await readFile(FREE_2M, 'utf8')).trim());
    await before.close();
    const pool = before.state.hosts.find((h) => h.name === 'acct-hp')!.hugepages?.find((p) => p.pageSizeKiB === 2048);
    expect(pool).toBeDefined();
    expect(pool!.totalPages).toBe(reserved);
    expect(pool!.freePages).toBe(kernelFreeBefore);

    // A 160 MiB guest backed by 2 MiB pages: 80 pages.
    const image = { kernel: join(lab.paths.images, 'vmlinuz'), initrd: join(lab.paths.images, 'initrd.img') };
    const xml = domainXml(
      { name: 'acct-hp', host: 'acct-hp', vcpus: 1, memoryMiB: 160, cpuBusyPercent: 0, dirtyMiBps: 0, workloadMiB: 16 },
      image,
      lab.consolePath('acct-hp'),
    ).replace('<vcpu>', "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>\n  <vcpu>");
    const xmlFile = join(hp.dir, 'acct-hp.xml');
    await writeFile(xmlFile, xml);
    await virsh(hp.uri, ['define', xmlFile]);
    await virsh(hp.uri, ['start', 'acct-hp']);

    const after = await collectOnce(config, { logger, sampleIntervalMs: 200 });
    const kernelFreeAfter = Number((await readFile(FREE_2M, 'utf8')).trim());
    await after.close();
    const hpHost = after.state.hosts.find((h) => h.name === 'acct-hp')!;
    const guest = after.state.vms.find((v) => v.name === 'acct-hp')!;
    expect(guest.hugepageSizeKiB).toBe(2048);
    const freeAfter = hpHost.hugepages!.find((p) => p.pageSizeKiB === 2048)!.freePages;
    expect(freeAfter).toBe(kernelFreeAfter);
    expect(freeAfter).toBe(kernelFreeBefore - 80);
    // (That the pool is taken out of the host's ordinary total is a unit test: this machine's NUMA
    // node memory, which node info reports, moves in 128 MiB steps between readings.)

    // Drained, the guest finds 20 free pages on every other host (one kernel): never sent there.
    const drained = { ...after.state, hosts: after.state.hosts.map((h) => (h.name === 'acct-hp' ? { ...h, maintenance: true } : h)) };
    const result = await plan(drained, { config: policySchema.parse({}) });
    expect(result.moves.map((m) => m.vmName)).not.toContain('acct-hp');
    expect(result.skipped.find((s) => s.vmName === 'acct-hp')?.reason).toContain(`has ${freeAfter} free 2048 KiB hugepages, acct-hp needs 80`);
  });

  it('a second libvirtd with the same host UUID is reported at connect and not used; libvirt refuses migrating between them', async () => {
    const lab1 = lab.host('lab1');
    const clone = await extraHost('acct-clone', 8, { host_uuid: `"${lab1.hostUuid}"` });
    const config = labConfig([
      { name: 'lab1', uri: lab1.uri },
      { name: 'acct-clone', uri: clone.uri },
    ]);
    const connections = new HostConnections(config, { logger });
    await connections.start();
    try {
      expect(connections.status('lab1').up, `lab1: ${JSON.stringify(connections.status('lab1'))}`).toBe(true);
      const status = connections.status('acct-clone');
      expect(status.up, `acct-clone: ${JSON.stringify(status)}`).toBe(false);
      expect(status.downReason).toContain(`same libvirt host as "lab1" (host UUID ${lab1.hostUuid})`);
    } finally {
      await connections.close();
    }
    // The failure this prevents, from libvirt itself.
    await expect(virsh(lab1.uri, ['migrate', '--live', '--p2p', 'acct-run', clone.uri, `tcp://${clone.address}`], 60_000)).rejects.toThrow(/same host/);
    expect(existsSync(join(clone.dir, 'host-uuid'))).toBe(true);
  });
});
