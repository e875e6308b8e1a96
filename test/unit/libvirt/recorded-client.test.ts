/**
 * The client against replies recorded from a real libvirt 11.3 daemon (recorded-daemon.ts,
 * scripts/record-libvirt-replies.ts): each procedure decodes what the daemon sent into what virsh
 * said about the same daemon at the same time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDomainCapabilitiesCpu, parseExpandedCpu } from '../../../src/cluster/guest-cpu.js';
import { ConnectBaselineCpuFlags, DomainState, DomainStatsTypes, GetAllDomainStatsFlags, LibvirtConnection } from '../../../src/libvirt/index.js';
import { loadRecording, startRecordedDaemon, type RecordedDaemon } from './recorded-daemon.js';

const recording = loadRecording('lab1-observe');
/** `Label:   value` lines of virsh's output. */
const field = (text: string, label: string): string => {
  const m = new RegExp(`^${label}:\\s*(.+)$`, 'm').exec(text);
  if (!m) throw new Error(`virsh output has no "${label}:" line: ${text}`);
  return m[1].trim();
};

describe('libvirt client on recorded replies (libvirt 11.3 lab host)', () => {
  let daemon: RecordedDaemon;
  let conn: LibvirtConnection;
  beforeAll(async () => {
    daemon = await startRecordedDaemon(recording);
    conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0 });
  });
  afterAll(async () => {
    await conn?.close();
    await daemon?.close();
  });

  it('connectGetDomainCapabilities and connectBaselineHypervisorCpu: the host-model CPU virsh domcapabilities showed, expanded to its model features', async () => {
    const caps = await conn.connectGetDomainCapabilities('qemu');
    expect(caps.trim()).toBe(recording.virsh['domcapabilities-qemu'].trim());
    const hostModel = parseDomainCapabilitiesCpu(caps);
    expect(hostModel.domainType).toBe('qemu');
    const expanded = parseExpandedCpu(await conn.connectBaselineHypervisorCpu([hostModel.hostModelCpuXml!], ConnectBaselineCpuFlags.EXPAND_FEATURES, 'qemu'));
    expect(expanded.model).toBe(hostModel.hostModel);
    // Expanded: the model's own features (sse2 is in every x86-64 model) beside the host-model extras.
    expect(expanded.features).toContain('sse2');
    expect(expanded.features).toContain('hypervisor');
  });

  it('opens with the recorded handshake and reads the daemon versions', () => {
    expect(conn.versions.libvirtVersion).toBe(11_003_000);
    expect(conn.versions.hypervisorVersion! >= 10_000_000).toBe(true);
  });

  it('connectGetHostname and nodeGetInfo say what virsh hostname and nodeinfo said', async () => {
    expect(await conn.connectGetHostname()).toBe(recording.virsh.hostname);
    const info = await conn.nodeGetInfo();
    const nodeinfo = recording.virsh.nodeinfo;
    expect(info.model).toBe(field(nodeinfo, 'CPU model'));
    expect(info.cpus).toBe(Number(field(nodeinfo, 'CPU\\(s\\)')));
    expect(info.mhz).toBe(Number(field(nodeinfo, 'CPU frequency').split(' ')[0]));
    expect(info.sockets).toBe(Number(field(nodeinfo, 'CPU socket\\(s\\)')));
    expect(info.cores).toBe(Number(field(nodeinfo, 'Core\\(s\\) per socket')));
    expect(info.threads).toBe(Number(field(nodeinfo, 'Thread\\(s\\) per core')));
    expect(info.nodes).toBe(Number(field(nodeinfo, 'NUMA cell\\(s\\)')));
    expect(info.memoryKiB).toBe(BigInt(field(nodeinfo, 'Memory size').split(' ')[0]));
  });

  it('connectListAllDomains, domainLookupByName/ByUuid, domainGetInfo and domainGetState agree with virsh list, domuuid and dominfo', async () => {
    expect((await conn.connectListAllDomains()).map((d) => d.name).sort()).toEqual(recording.virsh.list.split('\n').filter(Boolean).sort());
    const dom = await conn.domainLookupByName('rec1');
    expect(dom.uuid).toBe(recording.virsh.domuuid);
    expect((await conn.domainLookupByUuid(dom.uuid)).name).toBe('rec1');
    const info = await conn.domainGetInfo(dom);
    const dominfo = recording.virsh.dominfo;
    expect(field(dominfo, 'State')).toBe('running');
    expect(info.state).toBe(DomainState.RUNNING);
    expect(info.nrVirtCpu).toBe(Number(field(dominfo, 'CPU\\(s\\)')));
    expect(info.maxMemKiB).toBe(BigInt(field(dominfo, 'Max memory').split(' ')[0]));
    expect(await conn.domainGetState(dom)).toEqual({ state: DomainState.RUNNING, reason: expect.any(Number) });
  });

  it('connectGetAllDomainStats decodes the typed parameters of the running guest', async () => {
    const records = await conn.connectGetAllDomainStats(
      DomainStatsTypes.STATE | DomainStatsTypes.CPU_TOTAL | DomainStatsTypes.BALLOON | DomainStatsTypes.VCPU,
      GetAllDomainStatsFlags.NOWAIT,
    );
    const rec1 = records.find((r) => r.domain.name === 'rec1')!;
    expect(rec1.domain.uuid).toBe(recording.virsh.domuuid);
    expect(rec1.params['state.state']).toBe(DomainState.RUNNING);
    expect(rec1.params['vcpu.current']).toBe(Number(field(recording.virsh.dominfo, 'CPU\\(s\\)')));
    expect(rec1.params['balloon.maximum']).toBe(BigInt(field(recording.virsh.dominfo, 'Max memory').split(' ')[0]));
    expect(typeof rec1.params['cpu.time']).toBe('bigint');
    expect((rec1.params['cpu.time'] as bigint) > 0n).toBe(true);
  });

  it('domainMigrateGetMaxDowntime says what virsh migrate-getmaxdowntime said', async () => {
    const dom = await conn.domainLookupByName('rec1');
    expect(await conn.domainMigrateGetMaxDowntime(dom)).toBe(Number(recording.virsh['migrate-getmaxdowntime']));
    expect(daemon.unexpected).toEqual([]);
  });

  it('a call nothing was recorded for is a LibvirtError naming the procedure, and the connection stays usable', async () => {
    const dom = await conn.domainLookupByName('rec1');
    await expect(conn.domainDestroy(dom)).rejects.toThrow('no recorded reply for procedure 12');
    expect(await conn.connectGetHostname()).toBe(recording.virsh.hostname);
  });
});
