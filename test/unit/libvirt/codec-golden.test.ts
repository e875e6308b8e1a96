/**
 * Every procedure the client uses, on the wire: the argument bytes each LibvirtConnection method
 * sends for representative values, and what it decodes from representative reply and event bytes,
 * against codec-golden.json. The golden file was written by the hand-written codecs (before the
 * codecs were generated from remote_protocol.x, issue 30 item 4), so this test proves the generated
 * codecs send the same bytes and decode the same values. The procedures the recorded-reply tests
 * cover (test/unit/libvirt/recorded) are also proven against a real libvirt 11.3 there.
 *
 *   VB_WRITE_CODEC_GOLDEN=1 npx vitest run --project unit test/unit/libvirt/codec-golden.test.ts  # rewrite (only on purpose)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeSuspendTarget, TypedParamType } from '../../../src/libvirt/constants.js';
import { LibvirtConnection, type DomainEvent } from '../../../src/libvirt/connection.js';
import { encodePacket, MessageType, Proc, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION } from '../../../src/libvirt/protocol.js';
import { XdrWriter } from '../../../src/libvirt/xdr.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

const GOLDEN = new URL('./codec-golden.json', import.meta.url);

const dom = { name: 'vm-golden', uuid: '6a0cfd46-0bb4-4c1b-a2f4-8d6b3ae2e5a1', id: 7 };
const dom2 = { name: 'other', uuid: '00112233-4455-6677-8899-aabbccddeeff', id: -1 };

// Reply and event bytes are written with the XDR primitives only (test data, not the codecs under test).
const w = () => new XdrWriter();
const domainBytes = (x: XdrWriter, d: typeof dom) =>
  x
    .string(d.name)
    .fixedOpaque(Buffer.from(d.uuid.replace(/-/g, ''), 'hex'))
    .int(d.id);
/** One typed parameter of each of the seven types. */
function allTypedParams(x: XdrWriter): XdrWriter {
  x.uint(7);
  x.string('i').int(TypedParamType.INT).int(-5);
  x.string('ui').int(TypedParamType.UINT).uint(4_000_000_000);
  x.string('l')
    .int(TypedParamType.LLONG)
    .hyper(-(2n ** 40n));
  x.string('ul')
    .int(TypedParamType.ULLONG)
    .uhyper(2n ** 63n + 5n);
  x.string('d').int(TypedParamType.DOUBLE).double(2.5);
  x.string('b').int(TypedParamType.BOOLEAN).int(1);
  x.string('s').int(TypedParamType.STRING).string('text');
  return x;
}
const statsReply = () =>
  w()
    .array(['user', 'idle'], 16, (x, f) => x.string(f).uhyper(f === 'user' ? 11n : 22n))
    .int(2)
    .toBuffer();

const REPLIES: Partial<Record<number, Buffer>> = {
  [Proc.CONNECT_GET_HOSTNAME]: w().string('host-golden').toBuffer(),
  [Proc.CONNECT_GET_CAPABILITIES]: w().string('<capabilities/>').toBuffer(),
  [Proc.CONNECT_GET_DOMAIN_CAPABILITIES]: w().string('<domainCapabilities/>').toBuffer(),
  [Proc.CONNECT_BASELINE_HYPERVISOR_CPU]: w().string('<cpu>baseline</cpu>').toBuffer(),
  [Proc.NODE_GET_INFO]: (() => {
    const x = w();
    const model = Buffer.from('x86_64', 'latin1');
    for (let i = 0; i < 32; i++) x.int(model[i] ?? 0);
    return x.uhyper(16_000_000n).int(8).int(2400).int(1).int(1).int(4).int(2).toBuffer();
  })(),
  [Proc.NODE_GET_CPU_STATS]: statsReply(),
  [Proc.NODE_GET_MEMORY_STATS]: statsReply(),
  [Proc.NODE_GET_FREE_PAGES]: w()
    .array([51_200n, 0n, 40_000n, 2n], 1024, (x, v) => x.uhyper(v))
    .toBuffer(),
  [Proc.CONNECT_LIST_ALL_DOMAINS]: w()
    .array([dom, dom2], 16384, (x, d) => domainBytes(x, d))
    .uint(2)
    .toBuffer(),
  [Proc.CONNECT_GET_ALL_DOMAIN_STATS]: (() => {
    const x = w().uint(2);
    domainBytes(x, dom);
    allTypedParams(x);
    domainBytes(x, dom2);
    x.uint(0);
    return x.toBuffer();
  })(),
  [Proc.DOMAIN_LOOKUP_BY_NAME]: domainBytes(w(), dom).toBuffer(),
  [Proc.DOMAIN_LOOKUP_BY_UUID]: domainBytes(w(), dom).toBuffer(),
  [Proc.DOMAIN_DEFINE_XML]: domainBytes(w(), dom2).toBuffer(),
  [Proc.DOMAIN_GET_INFO]: w().uint(1).uhyper(2_097_152n).uhyper(1_048_576n).uint(2).uhyper(123_456_789_012n).toBuffer(),
  [Proc.DOMAIN_GET_STATE]: w().int(3).int(2).toBuffer(),
  [Proc.DOMAIN_GET_XML_DESC]: w().string('<domain type="kvm"/>').toBuffer(),
  [Proc.DOMAIN_GET_METADATA]: w().string('<vb:tags/>').toBuffer(),
  [Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS]: w().opaque(Buffer.from('cookie'), 4194304).toBuffer(),
  [Proc.DOMAIN_GET_JOB_INFO]: (() => {
    const x = w().int(2);
    for (let i = 1; i <= 11; i++) x.uhyper(BigInt(i) * 1000n);
    return x.toBuffer();
  })(),
  [Proc.DOMAIN_GET_JOB_STATS]: allTypedParams(w().int(3)).toBuffer(),
  [Proc.DOMAIN_MIGRATE_GET_MAX_DOWNTIME]: w().uhyper(300n).toBuffer(),
  [Proc.DOMAIN_MIGRATE_GET_MAX_SPEED]: w().uhyper(8_796_093_022_207n).toBuffer(),
  [Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY]: w().int(12).toBuffer(),
};

const EVENTS: [number, Buffer][] = [
  [Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE, domainBytes(w().int(1), dom).int(5).int(1).toBuffer()],
  [Proc.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, domainBytes(w().int(2), dom).int(3).toBuffer()],
  [Proc.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED, allTypedParams(domainBytes(w().int(3), dom2)).toBuffer()],
];

/** Each method the client has, with representative arguments (every optional present and absent somewhere). */
const CALLS: [string, (c: LibvirtConnection) => Promise<unknown>][] = [
  ['connectGetHostname', (c) => c.connectGetHostname()],
  ['connectGetCapabilities', (c) => c.connectGetCapabilities()],
  ['connectGetDomainCapabilities()', (c) => c.connectGetDomainCapabilities()],
  ['connectGetDomainCapabilities(kvm)', (c) => c.connectGetDomainCapabilities('kvm')],
  ['connectBaselineHypervisorCpu', (c) => c.connectBaselineHypervisorCpu(['<cpu>a</cpu>', '<cpu>bb</cpu>'], 1, 'kvm')],
  ['connectBaselineHypervisorCpu(no virttype)', (c) => c.connectBaselineHypervisorCpu(['<cpu/>'])],
  ['nodeGetInfo', (c) => c.nodeGetInfo()],
  ['nodeGetCpuStats', (c) => c.nodeGetCpuStats()],
  ['nodeGetCpuStats(again)', (c) => c.nodeGetCpuStats()],
  ['nodeGetCpuStats(3)', (c) => c.nodeGetCpuStats(3)],
  ['nodeGetMemoryStats', (c) => c.nodeGetMemoryStats()],
  ['nodeGetMemoryStats(again)', (c) => c.nodeGetMemoryStats()],
  ['nodeGetMemoryStats(1)', (c) => c.nodeGetMemoryStats(1)],
  ['nodeGetFreePages', (c) => c.nodeGetFreePages([4, 2048], 1, 2)],
  ['nodeSuspendForDuration', (c) => c.nodeSuspendForDuration(NodeSuspendTarget.HYBRID, 3600, 0)],
  ['connectListAllDomains', (c) => c.connectListAllDomains(3)],
  ['connectGetAllDomainStats', (c) => c.connectGetAllDomainStats(8 | 2, 1)],
  ['domainLookupByName', (c) => c.domainLookupByName('vm-golden')],
  ['domainLookupByUuid', (c) => c.domainLookupByUuid('6A0CFD460BB44C1BA2F48D6B3AE2E5A1')],
  ['domainGetInfo', (c) => c.domainGetInfo(dom)],
  ['domainGetState', (c) => c.domainGetState(dom, 0)],
  ['domainGetXmlDesc', (c) => c.domainGetXmlDesc(dom2, 2)],
  ['domainDefineXml', (c) => c.domainDefineXml('<domain>é</domain>')],
  ['domainCreate', (c) => c.domainCreate(dom2)],
  ['domainDestroy', (c) => c.domainDestroy(dom)],
  ['domainUndefineFlags', (c) => c.domainUndefineFlags(dom2, 4)],
  ['domainGetMetadata', (c) => c.domainGetMetadata(dom, 2, 'https://virt-balancer/tags', 0)],
  ['domainGetMetadata(null uri)', (c) => c.domainGetMetadata(dom, 0, null, 1)],
  ['domainSetMetadata', (c) => c.domainSetMetadata(dom, 2, '<tags/>', 'vb', 'https://virt-balancer/tags', 3)],
  ['domainSetMetadata(nulls)', (c) => c.domainSetMetadata(dom, 2, null, null, 'https://virt-balancer/tags')],
  [
    'domainMigratePerform3Params',
    (c) =>
      c.domainMigratePerform3Params(
        dom,
        'qemu+tcp://10.0.0.2/system',
        {
          uri: 'tcp://10.0.0.2:49152',
          destName: 'vm-new',
          destXml: '<domain/>',
          persistXml: '<domain p/>',
          bandwidthMiBps: 125,
          bandwidthPostcopyMiBps: 2 ** 40,
          parallelConnections: 4,
          compression: ['zstd', 'xbzrle'],
          compressionMtLevel: 1,
          compressionMtThreads: 2,
          compressionMtDthreads: 3,
          compressionZstdLevel: 5,
          compressionXbzrleCacheBytes: 67_108_864n,
          autoConvergeInitialPercent: 20,
          autoConvergeIncrementPercent: 10,
          migrateDisks: ['vda', 'vdb'],
          disksPort: 49153,
          disksUri: 'tcp://10.0.0.2:49153',
          listenAddress: '10.0.0.2',
          graphicsUri: 'spice://10.0.0.2',
          tlsDestination: 'lab2',
        },
        0x1 | 0x2 | 0x8000,
      ),
  ],
  ['domainMigratePerform3Params(minimal)', (c) => c.domainMigratePerform3Params(dom2, 'qemu+ssh://h/system', {}, 0)],
  ['domainGetJobInfo', (c) => c.domainGetJobInfo(dom)],
  ['domainGetJobStats', (c) => c.domainGetJobStats(dom, 1)],
  ['domainAbortJob', (c) => c.domainAbortJob(dom)],
  ['domainMigrateStartPostCopy', (c) => c.domainMigrateStartPostCopy(dom, 0)],
  ['domainMigrateSetMaxDowntime', (c) => c.domainMigrateSetMaxDowntime(dom, 300.4, 0)],
  ['domainMigrateGetMaxDowntime', (c) => c.domainMigrateGetMaxDowntime(dom)],
  ['domainMigrateSetMaxSpeed', (c) => c.domainMigrateSetMaxSpeed(dom, 1e6 + 0.6, 1)],
  ['domainMigrateGetMaxSpeed', (c) => c.domainMigrateGetMaxSpeed(dom, 1)],
  ['domainStartDirtyRateCalc', (c) => c.domainStartDirtyRateCalc(dom, 1, 2)],
  ['connectDomainEventCallbackRegisterAny', (c) => c.connectDomainEventCallbackRegisterAny(1)],
];

/** JSON for decoded values: bigints as "123n", buffers as hex. */
const jsonable = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)));

interface Golden {
  calls: { name: string; procedure: number; args: string[]; result: unknown }[];
  events: unknown[];
}

let daemon: FakeDaemon | undefined;
let conn: LibvirtConnection | undefined;
afterEach(async () => {
  await conn?.close().catch(() => {});
  conn = undefined;
  await daemon?.close();
  daemon = undefined;
});

describe('every used procedure: argument bytes and decoded replies', () => {
  it('match what the hand-written codecs sent and decoded (codec-golden.json)', async () => {
    let sent: { procedure: number; args: string }[] = [];
    daemon = await startFakeDaemon({
      onCall: (call) => {
        sent.push({ procedure: call.procedure, args: call.payload.toString('base64') });
        call.reply(REPLIES[call.procedure] ?? Buffer.alloc(0));
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0 });
    const actual: Golden = { calls: [], events: [] };
    for (const [name, run] of CALLS) {
      sent = [];
      const result = await run(conn);
      expect(sent.length, name).toBeGreaterThan(0);
      actual.calls.push({ name, procedure: sent[0].procedure, args: sent.map((s) => s.args), result: jsonable(result) });
    }
    const events: DomainEvent[] = [];
    conn.on('domainEvent', (e: DomainEvent) => events.push(e));
    const socket = [...daemon.sockets][0];
    for (const [procedure, payload] of EVENTS)
      socket.write(
        encodePacket({ program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, procedure, type: MessageType.MESSAGE, serial: 0, status: 0 }, payload),
      );
    // A call after the events: its reply comes after them on the same stream.
    await conn.connectGetHostname();
    actual.events = events.map(jsonable);
    expect(actual.events).toHaveLength(EVENTS.length);
    if (process.env.VB_WRITE_CODEC_GOLDEN === '1') writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 1)}\n`);
    const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;
    expect(actual.calls.map((c) => c.name)).toEqual(golden.calls.map((c) => c.name));
    for (const [i, call] of actual.calls.entries()) expect(call, call.name).toEqual(golden.calls[i]);
    expect(actual.events).toEqual(golden.events);
  });
});
