/**
 * The collector against fake libvirt connections that answer as libvirtd does (shapes checked in
 * test/lab/accounting.test.ts): shut-off definitions, hugepages, duplicate VMs, definitions that
 * change after a VM-bound failure.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Collector } from '../../../src/cluster/collector.js';
import type { HostConnections } from '../../../src/cluster/connections.js';
import { parseConfig } from '../../../src/config/index.js';
import { DomainState, type LibvirtConnection } from '../../../src/libvirt/index.js';
import { createLogger } from '../../../src/log/logger.js';

const GiB = 2 ** 30;
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

interface FakeDomain {
  name: string;
  uuid: string;
  state: number;
  memoryKiB: number;
  xml: string;
  /** state.reason in the bulk stats (default 1). */
  reason?: number;
}

function fakeHost(domains: FakeDomain[], options: { hugepages?: { total: number; free: number } } = {}) {
  const caps = `<capabilities><host><uuid>${uuid(9000 + domains.length)}</uuid><cpu><model>Haswell</model>
    <pages unit='KiB' size='4'/>${options.hugepages ? "<pages unit='KiB' size='2048'/>" : ''}</cpu>
    <power_management><suspend_mem/><suspend_disk/></power_management>
    <topology><cells num='1'><cell id='0'><pages unit='KiB' size='4'>1000</pages>${options.hugepages ? `<pages unit='KiB' size='2048'>${options.hugepages.total}</pages>` : ''}</cell></cells></topology></host></capabilities>`;
  const calls: string[] = [];
  const jobs = new Map<string, number>();
  const conn = Object.assign(new EventEmitter(), {
    calls,
    /** Job type per VM UUID that domainGetJobInfo answers (default 0: none). */
    jobs,
    subscribeDomainEvents: async () => {
      calls.push('subscribeDomainEvents');
    },
    nodeGetInfo: async () => ({ model: 'x86_64', memoryKiB: BigInt((256 * GiB) / 1024), cpus: 32, mhz: 2000, nodes: 1, sockets: 1, cores: 32, threads: 1 }),
    connectGetCapabilities: async () => caps,
    versions: { libvirtVersion: 11_003_000, hypervisorVersion: 10_000_000 },
    nodeGetCpuStats: async () => ({ kernel: 0n, user: 0n, idle: 100n, iowait: 0n }),
    nodeGetMemoryStats: async () => ({ total: BigInt((256 * GiB) / 1024), free: BigInt((25 * GiB) / 1024), buffers: 0n, cached: BigInt(GiB / 1024) }),
    nodeGetFreePages: async (sizes: number[]) => sizes.map(() => BigInt(options.hugepages?.free ?? 0)),
    connectGetAllDomainStats: async () =>
      domains.map((d) => ({
        domain: { name: d.name, uuid: d.uuid, id: d.state === DomainState.RUNNING ? 1 : -1 },
        params: {
          'state.state': d.state,
          'state.reason': d.reason ?? 1,
          'balloon.current': BigInt(d.memoryKiB),
          'balloon.maximum': BigInt(d.memoryKiB),
          'vcpu.current': 2,
          'cpu.time': 0n,
        },
      })),
    domainGetXmlDesc: async (dom: { uuid: string }) => domains.find((d) => d.uuid === dom.uuid)!.xml,
    domainGetMetadata: async () => {
      throw new Error('no metadata');
    },
    domainGetJobInfo: async (dom: { uuid: string }) => {
      calls.push(`domainGetJobInfo ${dom.uuid}`);
      return { type: jobs.get(dom.uuid) ?? 0 };
    },
  });
  return conn as unknown as LibvirtConnection & { calls: string[]; jobs: Map<string, number> };
}

function collector(hosts: { name: string; capacityMiB?: number; conn: LibvirtConnection }[]) {
  const config = parseConfig({
    hosts: hosts.map((h, i) => ({
      name: h.name,
      uri: `qemu+tcp://10.0.0.${i + 1}/system`,
      ...(h.capacityMiB ? { capacity: { memoryMiB: h.capacityMiB } } : {}),
    })),
  });
  const connections = {
    get: (name: string) => hosts.find((h) => h.name === name)?.conn,
    status: () => ({ up: true }),
    recordError: (_: string, e: unknown) => String(e),
  } as unknown as HostConnections;
  return new Collector(config, connections, { logger: createLogger({ level: 'silent' }) });
}

const plainXml = '<domain type="kvm"><devices></devices></domain>';

describe('collector job status', () => {
  const jobInfoCalls = (conn: { calls: string[] }) => conn.calls.filter((c) => c.startsWith('domainGetJobInfo')).map((c) => c.split(' ')[1]);

  it('asks job info of every VM on a new connection only; then of the VMs a migration event, the bulk state or the executor names, until they have no job', async () => {
    const domains = Array.from({ length: 30 }, (_, i) => ({
      name: `vm${i}`,
      uuid: uuid(i + 1),
      // vm29: the paused destination copy of an incoming migration (reason VIR_DOMAIN_PAUSED_MIGRATION).
      state: i === 29 ? DomainState.PAUSED : DomainState.RUNNING,
      reason: i === 29 ? 2 : 1,
      memoryKiB: 1024 * 1024,
      xml: plainXml,
    }));
    const conn = fakeHost(domains);
    const c = collector([{ name: 'kvm1', conn }]);
    await c.collect();
    expect(conn.calls[0]).toBe('subscribeDomainEvents');
    expect(jobInfoCalls(conn)).toHaveLength(30);

    conn.calls.length = 0;
    await c.collect();
    expect(jobInfoCalls(conn)).toEqual([uuid(30)]);

    // An outgoing pre-copy on vm3: libvirt's migration-iteration event, and job info says UNBOUNDED.
    conn.jobs.set(uuid(4), 2);
    conn.emit('domainEvent', { kind: 'migrationIteration', domain: { name: 'vm3', uuid: uuid(4), id: 1 }, iteration: 1 });
    conn.calls.length = 0;
    let state = await c.collect({ inFlight: [{ vmUuid: uuid(8), vmName: 'vm7', from: 'kvm1', to: 'kvm2', startedAtMs: 0 }] });
    expect(jobInfoCalls(conn).sort()).toEqual([uuid(4), uuid(8), uuid(30)]);
    expect(state.vms.find((v) => v.name === 'vm3')!.jobRunning).toBe(true);

    // Still asked while the job runs; once job info says none (the job-completed event may be lost), no more.
    conn.calls.length = 0;
    await c.collect();
    expect(jobInfoCalls(conn).sort()).toEqual([uuid(30), uuid(4)].sort());
    conn.jobs.delete(uuid(4));
    conn.calls.length = 0;
    state = await c.collect();
    expect(state.vms.find((v) => v.name === 'vm3')!.jobRunning).toBe(false);
    conn.calls.length = 0;
    await c.collect();
    expect(jobInfoCalls(conn)).toEqual([uuid(30)]);

    // The job-completed event ends the watch without a job-info call.
    conn.emit('domainEvent', { kind: 'migrationIteration', domain: { name: 'vm5', uuid: uuid(6), id: 1 }, iteration: 1 });
    conn.emit('domainEvent', { kind: 'jobCompleted', domain: { name: 'vm5', uuid: uuid(6), id: 1 }, params: {} });
    conn.calls.length = 0;
    await c.collect();
    expect(jobInfoCalls(conn)).toEqual([uuid(30)]);
  });

  it('asks every VM again after a reconnect (events sent meanwhile are lost), and every tick when the daemon refuses events', async () => {
    const domains = Array.from({ length: 4 }, (_, i) => ({
      name: `vm${i}`,
      uuid: uuid(i + 1),
      state: DomainState.RUNNING,
      memoryKiB: 1024 * 1024,
      xml: plainXml,
    }));
    const first = fakeHost(domains);
    const second = fakeHost(domains);
    let current = first;
    const config = parseConfig({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' }] });
    const connections = { get: () => current, status: () => ({ up: true }), recordError: (_: string, e: unknown) => String(e) } as unknown as HostConnections;
    const c = new Collector(config, connections, { logger: createLogger({ level: 'silent' }) });
    await c.collect();
    await c.collect();
    expect(jobInfoCalls(first)).toHaveLength(4);
    current = second;
    await c.collect();
    await c.collect();
    expect(jobInfoCalls(second)).toHaveLength(4);

    const refusing = fakeHost(domains);
    (refusing as unknown as { subscribeDomainEvents: () => Promise<void> }).subscribeDomainEvents = async () => {
      throw new Error('no events');
    };
    current = refusing;
    await c.collect();
    await c.collect();
    expect(jobInfoCalls(refusing)).toHaveLength(8);
  });
});

describe('collector accounting', () => {
  it('with capacity: counts running domains only (two 20 GiB running, 80 GiB shut off: 40 GiB used)', async () => {
    const domains = [
      { name: 'web-1', uuid: uuid(1), state: DomainState.RUNNING, memoryKiB: 20 * 1024 * 1024, xml: plainXml },
      { name: 'web-2', uuid: uuid(2), state: DomainState.RUNNING, memoryKiB: 20 * 1024 * 1024, xml: plainXml },
      ...[3, 4, 5, 6].map((n) => ({ name: `template-${n}`, uuid: uuid(n), state: DomainState.SHUTOFF, memoryKiB: 20 * 1024 * 1024, xml: plainXml })),
    ];
    const state = await collector([{ name: 'kvm1', capacityMiB: 128 * 1024, conn: fakeHost(domains) }]).collect();
    expect(state.hosts[0].memoryUsedBytes).toBe(40 * GiB);
    expect(state.hosts[0].memoryTotalBytes).toBe(128 * GiB);
    // Read with the capabilities, for power.action node-suspend's decision.
    expect(state.hosts[0].suspendTargets).toEqual(['mem', 'disk']);
  });

  it('with node stats: hugepage pools are outside ordinary memory; a hugepage VM carries its page size', async () => {
    const hpXml = "<domain><memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking><devices></devices></domain>";
    const state = await collector([
      {
        name: 'kvm1',
        conn: fakeHost([{ name: 'hp', uuid: uuid(1), state: DomainState.RUNNING, memoryKiB: 16 * 1024 * 1024, xml: hpXml }], {
          hugepages: { total: 102_400, free: 94_208 },
        }),
      },
    ]).collect();
    const host = state.hosts[0];
    expect(host.hugepages).toEqual([{ pageSizeKiB: 2048, totalPages: 102_400, freePages: 94_208 }]);
    expect(host.memoryTotalBytes).toBe(56 * GiB);
    expect(host.memoryUsedBytes).toBe(30 * GiB);
    expect(host.memoryUsedBytes / host.memoryTotalBytes).toBeLessThan(0.6);
    expect(state.vms[0].hugepageSizeKiB).toBe(2048);
  });

  it('reads what blocks a migration from the domain XML', async () => {
    const xml = "<domain><devices><hostdev mode='subsystem' type='pci' managed='yes'><source/></hostdev></devices></domain>";
    const state = await collector([
      { name: 'kvm1', conn: fakeHost([{ name: 'gpu', uuid: uuid(1), state: DomainState.RUNNING, memoryKiB: 1024 * 1024, xml }]) },
    ]).collect();
    expect(state.vms[0].migrationBlockers).toEqual([expect.stringContaining('PCI passthrough')]);
  });

  it('one VM UUID running on two hosts outside a migration is marked on the VM', async () => {
    const dup = { name: 'twice', uuid: uuid(7), state: DomainState.RUNNING, memoryKiB: 1024 * 1024, xml: plainXml };
    const state = await collector([
      { name: 'kvm1', conn: fakeHost([dup]) },
      { name: 'kvm2', conn: fakeHost([dup]) },
    ]).collect();
    expect(state.vms).toHaveLength(1);
    expect(state.vms[0].alsoActiveOn).toEqual([state.vms[0].host === 'kvm1' ? 'kvm2' : 'kvm1']);
  });

  it('counts a VM seen in an earlier tick once when a migration shows it on two hosts, and forgets a VM gone from every host', async () => {
    const vm = { name: 'moving', uuid: uuid(8), state: DomainState.RUNNING, memoryKiB: 1024 * 1024, xml: plainXml };
    const other = { name: 'stays', uuid: uuid(9), state: DomainState.RUNNING, memoryKiB: 1024 * 1024, xml: plainXml };
    const source = [vm, other];
    const destination: FakeDomain[] = [];
    const c = collector([
      { name: 'kvm1', conn: fakeHost(source) },
      { name: 'kvm2', conn: fakeHost(destination) },
    ]);
    // Ticks a few ms apart, so each gives a CPU sample.
    const tick = async () => {
      await new Promise((r) => setTimeout(r, 5));
      return c.collect();
    };
    await tick();
    // The incoming copy, paused for the migration (VIR_DOMAIN_PAUSED_MIGRATION), beside the running source.
    destination.push({ ...vm, state: DomainState.PAUSED, reason: 2 });
    const during = await tick();
    expect(during.vms.filter((v) => v.uuid === vm.uuid).map((v) => [v.host, v.state, v.alsoActiveOn])).toEqual([['kvm1', 'running', undefined]]);
    expect(during.vms).toHaveLength(2);
    // Gone from both hosts for a tick, then back: a new VM to the collector (its window starts again).
    source.splice(0, 1);
    destination.splice(0, 1);
    expect((await tick()).vms.map((v) => v.name)).toEqual(['stays']);
    source.push(vm);
    const back = await tick();
    expect(back.vms.find((v) => v.uuid === vm.uuid)?.cpuUtilization.samples).toBe(0);
    expect(back.vms.find((v) => v.uuid === other.uuid)?.cpuUtilization.samples).toBe(3);
  });

  it('reports the name libvirt gives each tick: a VM renamed between ticks is seen under its new name, with its window kept', async () => {
    const vm = { name: 'before', uuid: uuid(10), state: DomainState.RUNNING, memoryKiB: 1024 * 1024, xml: plainXml };
    const c = collector([{ name: 'kvm1', conn: fakeHost([vm]) }]);
    const first = await c.collect();
    await new Promise((r) => setTimeout(r, 5));
    vm.name = 'after'; // virDomainRename
    const second = await c.collect();
    expect([first.vms[0].name, second.vms[0].name]).toEqual(['before', 'after']);
    expect(second.vms[0].uuid).toBe(vm.uuid);
    expect(second.vms[0].cpuUtilization.samples).toBe(1);
  });

  it('keeps equal definition parts once for all VMs that have them, equal to each VM read alone; a different definition gets its own', async () => {
    const cpuXml = (features: string) =>
      `<domain type='kvm'><cpu mode='custom'><model>Haswell-noTSX-IBRS</model>${features}</cpu><devices><disk type='file' device='disk'><source file='/var/lib/x.qcow2'/><target dev='vda'/></disk></devices></domain>`;
    const same = cpuXml("<feature policy='require' name='vmx'/>");
    const other = cpuXml("<feature policy='disable' name='vmx'/>");
    const domains = [1, 2, 3].map((n) => ({
      name: `vm${n}`,
      uuid: uuid(20 + n),
      state: DomainState.RUNNING,
      memoryKiB: 1024 * 1024,
      xml: n === 3 ? other : same,
    }));
    const vms = (await collector([{ name: 'kvm1', conn: fakeHost(domains) }]).collect()).vms;
    const alone = await Promise.all(domains.map(async (d) => (await collector([{ name: 'kvm1', conn: fakeHost([d]) }]).collect()).vms[0]));
    const parts = (v: (typeof vms)[number]) => [
      v.cpuModel,
      v.cpuMode,
      v.domainType,
      v.cpuRequiredFeatures,
      v.cpuDisabledFeatures,
      v.migrationBlockers,
      v.tags,
      v.pinnedHostCpus,
    ];
    for (let i = 0; i < 3; i++) expect(parts(vms[i])).toEqual(parts(alone[i]));
    expect(vms[0].cpuRequiredFeatures).toEqual(['vmx']);
    expect(vms[2].cpuDisabledFeatures).toEqual(['vmx']);
    expect(vms[1].cpuRequiredFeatures).toBe(vms[0].cpuRequiredFeatures);
    expect(vms[1].migrationBlockers).toBe(vms[0].migrationBlockers);
    expect(vms[2].cpuRequiredFeatures).not.toBe(vms[0].cpuRequiredFeatures);
    expect(Object.isFrozen(vms[0].cpuRequiredFeatures)).toBe(true);
  });

  it('re-reads the definition of a VM with a VM-bound failure and notes when it changed', async () => {
    const gpu = {
      name: 'gpu',
      uuid: uuid(1),
      state: DomainState.RUNNING,
      memoryKiB: 1024 * 1024,
      xml: "<domain><devices><hostdev mode='subsystem' type='pci'><source/></hostdev></devices></domain>",
    };
    const c = collector([{ name: 'kvm1', conn: fakeHost([gpu]) }]);
    const failure = {
      vmUuid: gpu.uuid,
      from: 'kvm1',
      to: 'kvm2',
      atMs: 1,
      outcome: 'failed',
      error: 'Requested operation is not valid: domain has assigned non-USB host devices',
    };
    const first = await c.collect({ recentFailures: [failure] });
    expect(first.vms[0].definitionChangedAtMs).toBeUndefined();
    // The collector observes libvirt only: the failure steers what it reads, it is not copied into the state (issue 30).
    expect(first.recentFailures).toEqual([]);
    gpu.xml = plainXml; // the operator detached the device
    const second = await c.collect({ recentFailures: [failure] });
    expect(second.vms[0].definitionChangedAtMs).toBe(second.observedAtMs);
    expect(second.vms[0].migrationBlockers).toEqual([]);
    // A pair failure does not make the collector re-read (the definition is read once).
    const other = collector([{ name: 'kvm1', conn: fakeHost([gpu]) }]);
    await other.collect({ recentFailures: [{ ...failure, error: 'Storage pool not found' }] });
    gpu.xml = "<domain><devices><shmem name='x'/></devices></domain>";
    expect((await other.collect({ recentFailures: [{ ...failure, error: 'Storage pool not found' }] })).vms[0].migrationBlockers).toEqual([]);
  });
});
