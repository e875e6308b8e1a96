/**
 * Many libvirt hosts in one process, answering from replies recorded from a real libvirt 11.3 lab
 * host (test/unit/libvirt/recorded/lab1-observe.json, scripts/record-libvirt-replies.ts), for the
 * collector's scale rows (bench/collect-scale.ts). Run as a child process, so its CPU is not the
 * controller's:
 *
 *   fork('bench/fake-hosts.ts', [recordingPath, vmsPerHost, hotShare, listeners, firstHost]) -> message { ports }
 *
 * It listens on `listeners` loopback ports (the controller's config refuses two hosts with one
 * address and port), and each accepted connection is one host, numbered from `firstHost` (its
 * VMs' and its own UUIDs derive from that number, so several children never share one). Every call is answered with the recorded reply of the same
 * procedure (same arguments when recorded, else the procedure's first reply), except:
 *  - connectGetCapabilities: the recorded XML with a host UUID of its own (the controller refuses
 *    two entries reaching one host);
 *  - connectGetAllDomainStats: `vmsPerHost` copies of the recorded guest's record (its typed
 *    parameters as libvirt 11.3 sent them), each with its own name and UUID and a cpu.time that
 *    grows with wall time at the VM's load (a `hotShare` of hosts near 95 %, the others 20-60 %).
 * Keepalive pings get pongs. The parent sends 'counts' to get (and reset) the remote-program calls
 * answered, per procedure.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { TypedParamType } from '../src/libvirt/constants.js';
import {
  encodePacket,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MessageStatus,
  MessageType,
  PacketDecoder,
  Proc,
  REMOTE_PROGRAM,
  STRING_MAX_BYTES,
} from '../src/libvirt/protocol.js';
import { readDomain, readTypedParamList, writeDomain, writeTypedParams, type TypedParam } from '../src/libvirt/wire.js';
import { REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX } from '../src/libvirt/generated/protocol.js';
import { XdrReader, XdrWriter } from '../src/libvirt/xdr.js';

interface Exchange {
  procedure: number;
  connection: number;
  args: string;
  status: number;
  reply: string;
}

const [recordingPath, vmsArg, hotArg, listenersArg, firstHostArg] = process.argv.slice(2);
const listeners = Number(listenersArg ?? 1);
const vmsPerHost = Number(vmsArg ?? 30);
const hotShare = Number(hotArg ?? 0.1);
const recording = JSON.parse(readFileSync(recordingPath, 'utf8')) as { exchanges: Exchange[] };

const byArgs = new Map<string, Exchange>();
const byProcedure = new Map<number, Exchange>();
for (const e of recording.exchanges) {
  if (!byArgs.has(`${e.procedure}:${e.args}`)) byArgs.set(`${e.procedure}:${e.args}`, e);
  // The first reply of a procedure (an OK one if any), for arguments the recording did not see (another domain).
  const known = byProcedure.get(e.procedure);
  if (!known || (known.status !== MessageStatus.OK && e.status === MessageStatus.OK)) byProcedure.set(e.procedure, e);
}

// The recorded guest's stats record: its typed parameters are the template of every fake VM.
const statsExchange = recording.exchanges.find((e) => e.procedure === Proc.CONNECT_GET_ALL_DOMAIN_STATS && e.status === MessageStatus.OK);
if (!statsExchange) throw new Error(`${recordingPath}: no recorded connectGetAllDomainStats reply`);
const statsReader = new XdrReader(Buffer.from(statsExchange.reply, 'base64'));
const records = statsReader.array(1000, () => ({
  domain: readDomain(statsReader),
  params: readTypedParamList(statsReader, REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX),
}));
if (records.length === 0) throw new Error(`${recordingPath}: the recorded stats reply has no domain`);
const template = records[0].params;

const capsExchange = byProcedure.get(Proc.CONNECT_GET_CAPABILITIES);
if (!capsExchange) throw new Error(`${recordingPath}: no recorded capabilities`);
const capsXml = new XdrReader(Buffer.from(capsExchange.reply, 'base64')).string(STRING_MAX_BYTES);

const startedAtMs = performance.now();
const counts = new Map<number, number>();

function seeded(n: number): number {
  const x = Math.sin(n * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

function uuidOf(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `00000000-0000-4000-8000-${hex}`;
}

function statsReply(host: number): Buffer {
  const w = new XdrWriter(vmsPerHost * 1200);
  const hot = seeded(host + 0.5) < hotShare;
  const elapsedNs = BigInt(Math.round((performance.now() - startedAtMs) * 1e6));
  w.uint(vmsPerHost);
  for (let i = 0; i < vmsPerHost; i++) {
    const n = host * vmsPerHost + i;
    const vcpuParam = template.find((p) => p.field === 'vcpu.current');
    const vcpus = Number(vcpuParam?.value ?? 1);
    const load = hot ? 0.9 + 0.1 * seeded(n) : 0.1 + 0.5 * seeded(n);
    const cpuTimeNs = (elapsedNs * BigInt(Math.round(load * vcpus * 1000))) / 1000n;
    const params: TypedParam[] = template.map((p) => (p.field === 'cpu.time' ? { field: p.field, type: TypedParamType.ULLONG, value: cpuTimeNs } : p));
    writeDomain(w, { name: `h${host}vm${i}`, uuid: uuidOf(n), id: i + 1 });
    writeTypedParams(w, params, REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX);
  }
  return w.toBuffer();
}

function capabilitiesReply(host: number): Buffer {
  const xml = capsXml.replace(/<uuid>[^<]*<\/uuid>/, `<uuid>${uuidOf(0xf00000000 + host)}</uuid>`);
  return new XdrWriter(xml.length + 16).string(xml).toBuffer();
}

let hosts = Number(firstHostArg ?? 0);
const sockets = new Set<Socket>();
const onConnection = (socket: Socket) => {
  const host = hosts++;
  sockets.add(socket);
  socket.setNoDelay(true);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
  const decoder = new PacketDecoder();
  socket.on('data', (chunk) => {
    let packets: ReturnType<PacketDecoder['push']>;
    try {
      packets = decoder.push(chunk);
    } catch {
      // Not libvirt's framing (something else on loopback probing ports): drop that peer only.
      socket.destroy();
      return;
    }
    for (const { header, payload } of packets) {
      if (header.program === KEEPALIVE_PROGRAM) {
        if (header.procedure === 1)
          socket.write(encodePacket({ ...header, version: KEEPALIVE_PROTOCOL_VERSION, procedure: 2, type: MessageType.MESSAGE, serial: 0 }, Buffer.alloc(0)));
        continue;
      }
      if (header.program !== REMOTE_PROGRAM || header.type !== MessageType.CALL) continue;
      counts.set(header.procedure, (counts.get(header.procedure) ?? 0) + 1);
      const reply = { ...header, type: MessageType.REPLY, status: MessageStatus.OK };
      let body: Buffer;
      let status: number = MessageStatus.OK;
      if (header.procedure === Proc.CONNECT_GET_ALL_DOMAIN_STATS) body = statsReply(host);
      else if (header.procedure === Proc.CONNECT_GET_CAPABILITIES) body = capabilitiesReply(host);
      else {
        const e = byArgs.get(`${header.procedure}:${payload.toString('base64')}`) ?? byProcedure.get(header.procedure);
        if (!e) {
          process.stderr.write(`fake-hosts: no recorded reply for procedure ${header.procedure}\n`);
          socket.destroy();
          continue;
        }
        body = Buffer.from(e.reply, 'base64');
        status = e.status;
      }
      socket.write(encodePacket({ ...reply, status }, body));
    }
  });
};
const servers = Array.from({ length: listeners }, () => createServer(onConnection));
Promise.all(
  servers.map((server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))),
).then((ports) => process.send?.({ ports }));
process.on('message', (m: unknown) => {
  if (m === 'counts') {
    process.send?.({ counts: Object.fromEntries(counts), hosts });
    counts.clear();
  } else if (m === 'exit') {
    for (const s of sockets) s.destroy();
    for (const server of servers) server.close();
    process.exit(0);
  }
});
// The bench ended without saying so (killed, crashed): do not outlive it.
process.on('disconnect', () => process.exit(0));
