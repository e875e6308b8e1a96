/**
 * libvirt's RPC framing: message headers and packets. The numbers (programs, procedures, limits,
 * message types) are generated from libvirt's .x files into generated/protocol.ts.
 */

import {
  MessageStatus,
  REMOTE_CPU_BASELINE_MAX,
  MessageType,
  REMOTE_STRING_MAX,
  VIR_NET_MESSAGE_HEADER_MAX,
  VIR_NET_MESSAGE_LEN_MAX,
  VIR_NET_MESSAGE_MAX,
} from './generated/protocol.js';

export {
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  KeepaliveProcedure,
  MessageStatus,
  MessageType,
  Proc,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  RemoteAuthType,
} from './generated/protocol.js';

/** libvirt refuses messages over 32 MiB (VIR_NET_MESSAGE_MAX); so do we, before allocating. */
export const MESSAGE_MAX_BYTES = VIR_NET_MESSAGE_MAX;
export const LENGTH_WORD_BYTES = VIR_NET_MESSAGE_LEN_MAX;
export const HEADER_BYTES = VIR_NET_MESSAGE_HEADER_MAX;
/** Longest string the remote program sends (REMOTE_STRING_MAX). */
export const STRING_MAX_BYTES = REMOTE_STRING_MAX;
/** REMOTE_CPU_BASELINE_MAX: most CPU definitions one baseline call takes. */
export const CPU_BASELINE_MAX = REMOTE_CPU_BASELINE_MAX;

export interface MessageHeader {
  program: number;
  version: number;
  procedure: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

export function encodeHeader(h: MessageHeader, target: Buffer, offset: number): void {
  target.writeUInt32BE(h.program >>> 0, offset);
  target.writeUInt32BE(h.version >>> 0, offset + 4);
  target.writeInt32BE(h.procedure, offset + 8);
  target.writeInt32BE(h.type, offset + 12);
  target.writeUInt32BE(h.serial >>> 0, offset + 16);
  target.writeInt32BE(h.status, offset + 20);
}

/** A whole packet: length word (counting itself), header, payload. */
export function encodePacket(h: MessageHeader, payload: Buffer): Buffer {
  const total = LENGTH_WORD_BYTES + HEADER_BYTES + payload.length;
  if (total > MESSAGE_MAX_BYTES + LENGTH_WORD_BYTES) {
    throw new RangeError(`message of ${total} bytes exceeds libvirt's ${MESSAGE_MAX_BYTES}-byte limit`);
  }
  const packet = Buffer.allocUnsafe(total);
  packet.writeUInt32BE(total, 0);
  encodeHeader(h, packet, LENGTH_WORD_BYTES);
  payload.copy(packet, LENGTH_WORD_BYTES + HEADER_BYTES);
  return packet;
}

export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

export interface Packet {
  header: MessageHeader;
  payload: Buffer;
}

/**
 * Splits a byte stream into packets. The length word is checked before anything is buffered for
 * it, so a garbled or hostile length is a FramingError, not a 4 GiB allocation.
 */
export class PacketDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(data: Buffer): Packet[] {
    this.chunks.push(data);
    this.buffered += data.length;
    const packets: Packet[] = [];
    for (;;) {
      if (this.buffered < LENGTH_WORD_BYTES) break;
      const head = this.peek(LENGTH_WORD_BYTES);
      const total = head.readUInt32BE(0);
      if (total < LENGTH_WORD_BYTES + HEADER_BYTES) {
        throw new FramingError(`packet length ${total} is shorter than a message header (${LENGTH_WORD_BYTES + HEADER_BYTES} bytes)`);
      }
      if (total > MESSAGE_MAX_BYTES + LENGTH_WORD_BYTES) {
        throw new FramingError(`packet length ${total} exceeds libvirt's ${MESSAGE_MAX_BYTES}-byte message limit`);
      }
      if (this.buffered < total) break;
      const packet = this.take(total);
      packets.push(decodePacketBody(packet));
    }
    return packets;
  }

  private peek(bytes: number): Buffer {
    if (this.chunks[0].length >= bytes) return this.chunks[0];
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(bytes: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const packet = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= bytes;
    return packet;
  }
}

export function decodePacketBody(packet: Buffer): Packet {
  const o = LENGTH_WORD_BYTES;
  const type = packet.readInt32BE(o + 12);
  const status = packet.readInt32BE(o + 20);
  if (!(type in MessageType)) throw new FramingError(`unknown message type ${type}`);
  if (!(status in MessageStatus)) throw new FramingError(`unknown message status ${status}`);
  return {
    header: {
      program: packet.readUInt32BE(o),
      version: packet.readUInt32BE(o + 4),
      procedure: packet.readInt32BE(o + 8),
      type,
      serial: packet.readUInt32BE(o + 16),
      status,
    },
    payload: packet.subarray(o + HEADER_BYTES),
  };
}
