/**
 * Recorded replies of a real libvirt daemon, and a fake daemon that answers from them.
 *
 * scripts/record-libvirt-replies.ts puts a recording proxy between our client and a lab libvirtd
 * and writes every call of the remote program with its reply (test/unit/libvirt/recorded/*.json).
 * `startRecordedDaemon` listens on loopback and answers each call with the reply recorded for the
 * same procedure and the same argument bytes, in recorded order (the last one again when a call is
 * repeated more often than recorded, as a poll is). A call nothing was recorded for gets libvirt's
 * error reply VIR_ERR_NO_SUPPORT naming the procedure, so a test sees which call it did not expect.
 * Events are sent before the reply they preceded, and at the latest before a later reply of the
 * same recorded connection (a replay polls fewer or more times than the recording did).
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ErrorCode } from '../../../src/libvirt/errors.js';
import {
  encodePacket,
  MessageStatus,
  MessageType,
  PacketDecoder,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  type MessageHeader,
} from '../../../src/libvirt/protocol.js';
import { XdrWriter } from '../../../src/libvirt/xdr.js';

/** One call of the remote program and the daemon's reply, payloads as base64 XDR. */
export interface RecordedExchange {
  procedure: number;
  /** Which client connection (0, 1, ...) through the proxy made the call. */
  connection: number;
  args: string;
  status: MessageStatus;
  reply: string;
  /** Time from the call to its reply, ms. */
  replyAfterMs: number;
  /** Events (MESSAGE packets: procedure, base64 XDR) the daemon sent on this connection since its previous reply. */
  eventsBefore?: { procedure: number; payload: string }[];
}

export interface Recording {
  /** What was recorded, against which daemon (libvirt and QEMU versions). */
  description: string;
  recordedAt: string;
  exchanges: RecordedExchange[];
  /** What virsh said about the same daemon at record time: the expected values of the tests. */
  virsh: Record<string, string>;
}

export const RECORDINGS_DIR = new URL('./recorded/', import.meta.url);

export function loadRecording(name: string): Recording {
  return JSON.parse(readFileSync(new URL(`${name}.json`, RECORDINGS_DIR), 'utf8')) as Recording;
}

export interface RecordedDaemon {
  uri: string;
  /** Procedures called that had no recorded reply (each answered with VIR_ERR_NO_SUPPORT). */
  unexpected: number[];
  /** Calls answered, in order: procedure numbers. */
  answered: number[];
  close(): Promise<void>;
}

/** libvirt's remote_error for a call with no recorded reply. */
function noSupportError(procedure: number): Buffer {
  const w = new XdrWriter();
  w.int(ErrorCode.NO_SUPPORT).int(0).optionalString(`no recorded reply for procedure ${procedure}`).int(2);
  w.optionalString(null).optionalString(null).optionalString(null).optionalString(null);
  w.int(0).int(0).bool(false);
  return w.toBuffer();
}

/**
 * A daemon on 127.0.0.1 that replays `recording`. `delayProcedures` replays the recorded reply
 * time of those procedures (a migration call replies when its job ends), capped at `maxDelayMs`.
 * `matchProcedureOnly` answers those procedures whatever their arguments (a migration call names
 * the destination's URI, whose port differs from the recording's).
 */
export async function startRecordedDaemon(
  recording: Recording,
  options: { scheme?: string; delayProcedures?: number[]; maxDelayMs?: number; matchProcedureOnly?: number[] } = {},
): Promise<RecordedDaemon> {
  const byKey = new Map<string, RecordedExchange[]>();
  for (const e of recording.exchanges) {
    const key = options.matchProcedureOnly?.includes(e.procedure) ? `${e.procedure}:*` : `${e.procedure}:${e.args}`;
    byKey.set(key, [...(byKey.get(key) ?? []), e]);
  }
  const used = new Map<string, number>();
  const eventsSent = new Set<RecordedExchange>();
  const unexpected: number[] = [];
  const answered: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new PacketDecoder();
    socket.on('data', (chunk) => {
      for (const { header, payload } of decoder.push(chunk)) {
        if (header.program !== REMOTE_PROGRAM || header.type !== MessageType.CALL) continue;
        const key = options.matchProcedureOnly?.includes(header.procedure) ? `${header.procedure}:*` : `${header.procedure}:${payload.toString('base64')}`;
        const candidates = byKey.get(key);
        const reply: MessageHeader = {
          program: REMOTE_PROGRAM,
          version: REMOTE_PROTOCOL_VERSION,
          procedure: header.procedure,
          type: MessageType.REPLY,
          serial: header.serial,
          status: MessageStatus.OK,
        };
        if (!candidates) {
          unexpected.push(header.procedure);
          socket.write(encodePacket({ ...reply, status: MessageStatus.ERROR }, noSupportError(header.procedure)));
          continue;
        }
        const index = Math.min(used.get(key) ?? 0, candidates.length - 1);
        used.set(key, index + 1);
        const exchange = candidates[index];
        answered.push(header.procedure);
        for (const earlier of recording.exchanges) {
          if (earlier.connection !== exchange.connection || eventsSent.has(earlier)) continue;
          eventsSent.add(earlier);
          for (const event of earlier.eventsBefore ?? []) {
            socket.write(encodePacket({ ...reply, procedure: event.procedure, type: MessageType.MESSAGE, serial: 0 }, Buffer.from(event.payload, 'base64')));
          }
          if (earlier === exchange) break;
        }
        const packet = encodePacket({ ...reply, status: exchange.status }, Buffer.from(exchange.reply, 'base64'));
        const delayMs = options.delayProcedures?.includes(header.procedure) ? Math.min(exchange.replyAfterMs, options.maxDelayMs ?? 2000) : 0;
        if (delayMs > 0) setTimeout(() => !socket.destroyed && socket.write(packet), delayMs);
        else socket.write(packet);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `${options.scheme ?? 'qemu+tcp'}://127.0.0.1:${port}/system`,
    unexpected,
    answered,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
