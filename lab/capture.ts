/**
 * Loopback captures for the lab's on-the-wire proofs (migration-tls.test.ts): tcpdump writes a
 * pcap file, and this reads it back into TCP flows (payload reassembled in sequence order), so a
 * test can say which addresses carried how many bytes and whether a string crossed the wire.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface TcpFlow {
  /** "src:port>dst:port", one direction of a connection. */
  key: string;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  packets: number;
  /** The payload in sequence order, retransmitted segments once. */
  payload: Buffer;
}

export interface Capture {
  stop(): Promise<{ flows: TcpFlow[]; droppedByKernel: number }>;
}

/**
 * Start tcpdump on lo with a BPF filter (e.g. "net 127.0.25.0/24"), writing file. Resolves once
 * tcpdump listens. stop() ends it (SIGINT to its own pid) and parses the file.
 */
export async function startCapture(file: string, filter: string): Promise<Capture> {
  // -B: a 256 MiB kernel buffer, so a migration at loopback speed on a busy machine is not dropped.
  const child: ChildProcess = spawn('tcpdump', ['-i', 'lo', '-n', '-s', '0', '-B', '262144', '-U', '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start listening within 15 s: ${stderr}`)), 15_000);
    const check = () => {
      if (/listening on/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited (${code}): ${stderr}`));
    });
  });
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
      const dropped = /(\d+) packets? dropped by kernel/.exec(stderr);
      return { flows: readPcap(await readFile(file)), droppedByKernel: dropped ? Number(dropped[1]) : 0 };
    },
  };
}

/** Link-layer header length by pcap link type: null/loopback, Ethernet (Linux lo), Linux cooked v1, v2. */
const LINK_HEADER: Record<number, number> = { 0: 4, 1: 14, 113: 16, 276: 20 };

/** IPv4 TCP flows of a classic pcap file (microsecond or nanosecond, either byte order). */
export function readPcap(data: Buffer): TcpFlow[] {
  const magic = data.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && data.readUInt32BE(0) !== 0xa1b2c3d4 && data.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file');
  const u32 = (o: number) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const linkType = u32(20);
  const linkHeader = LINK_HEADER[linkType];
  if (linkHeader === undefined) throw new Error(`pcap link type ${linkType} not supported`);
  const flows = new Map<string, { flow: TcpFlow; chunks: Buffer[]; nextSeq?: number }>();
  let offset = 24;
  while (offset + 16 <= data.length) {
    const capturedLength = u32(offset + 8);
    const packet = data.subarray(offset + 16, offset + 16 + capturedLength);
    offset += 16 + capturedLength;
    const ip = packet.subarray(linkHeader);
    if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 6) continue;
    const ipHeader = (ip[0]! & 0x0f) * 4;
    const totalLength = ip.readUInt16BE(2);
    const tcp = ip.subarray(ipHeader, totalLength);
    if (tcp.length < 20) continue;
    const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
    const dst = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`;
    const srcPort = tcp.readUInt16BE(0);
    const dstPort = tcp.readUInt16BE(2);
    const seq = tcp.readUInt32BE(4);
    const payload = tcp.subarray((tcp[12]! >> 4) * 4);
    const key = `${src}:${srcPort}>${dst}:${dstPort}`;
    let entry = flows.get(key);
    if (!entry) {
      entry = { flow: { key, src, srcPort, dst, dstPort, packets: 0, payload: Buffer.alloc(0) }, chunks: [] };
      flows.set(key, entry);
    }
    entry.flow.packets++;
    if (payload.length === 0) continue;
    // Loopback delivers in order; a segment starting before the next expected byte is a retransmission.
    if (entry.nextSeq !== undefined && ((seq - entry.nextSeq) | 0) < 0) continue;
    entry.chunks.push(Buffer.from(payload));
    entry.nextSeq = (seq + payload.length) >>> 0;
  }
  return [...flows.values()].map(({ flow, chunks }) => ({ ...flow, payload: Buffer.concat(chunks) }));
}

/** Non-overlapping occurrences of needle in haystack. */
export function countOccurrences(haystack: Buffer, needle: string | Buffer): number {
  let count = 0;
  const n = typeof needle === 'string' ? Buffer.from(needle) : needle;
  for (let at = haystack.indexOf(n); at !== -1; at = haystack.indexOf(n, at + n.length)) count++;
  return count;
}
