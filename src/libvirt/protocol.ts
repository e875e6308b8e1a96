/**
 * Facts of libvirt's RPC protocol (src/rpc/virnetprotocol.x, src/rpc/virkeepaliveprotocol.x and
 * src/remote/remote_protocol.x): programs, procedure numbers, message framing and limits.
 */

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** libvirt refuses messages over 32 MiB (VIR_NET_MESSAGE_MAX); so do we, before allocating. */
export const MESSAGE_MAX_BYTES = 32 * 1024 * 1024;
export const LENGTH_WORD_BYTES = 4;
export const HEADER_BYTES = 24;
/** REMOTE_STRING_MAX (4 MiB in libvirt 9). */
export const STRING_MAX_BYTES = 4 * 1024 * 1024;
export const TYPED_PARAMS_MAX = 16 * 1024 * 64;
export const DOMAIN_LIST_MAX = 16384;
export const MIGRATE_COOKIE_MAX_BYTES = 4 * 1024 * 1024;
/** REMOTE_NODE_MAX_CELLS: longest page-size list and count list of the free-pages call. */
export const NODE_MAX_CELLS = 1024;

export enum MessageType {
  CALL = 0,
  REPLY = 1,
  MESSAGE = 2,
  STREAM = 3,
  CALL_WITH_FDS = 4,
  REPLY_WITH_FDS = 5,
  STREAM_HOLE = 6,
}

export enum MessageStatus {
  OK = 0,
  ERROR = 1,
  CONTINUE = 2,
}

export interface MessageHeader {
  program: number;
  version: number;
  procedure: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

/** Procedure numbers of the remote program that this client uses. */
export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_TYPE: 3,
  CONNECT_GET_VERSION: 4,
  NODE_GET_INFO: 6,
  CONNECT_GET_CAPABILITIES: 7,
  DOMAIN_CREATE: 9,
  DOMAIN_DEFINE_XML: 11,
  DOMAIN_DESTROY: 12,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_GET_INFO: 16,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  DOMAIN_UNDEFINE: 35,
  CONNECT_GET_HOSTNAME: 59,
  CONNECT_SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  AUTH_POLKIT: 70,
  NODE_GET_FREE_MEMORY: 102,
  CONNECT_GET_LIB_VERSION: 157,
  DOMAIN_GET_JOB_INFO: 163,
  DOMAIN_ABORT_JOB: 164,
  DOMAIN_MIGRATE_SET_MAX_DOWNTIME: 166,
  DOMAIN_MIGRATE_SET_MAX_SPEED: 207,
  DOMAIN_GET_STATE: 212,
  NODE_GET_CPU_STATS: 227,
  NODE_GET_MEMORY_STATS: 228,
  DOMAIN_UNDEFINE_FLAGS: 231,
  DOMAIN_MIGRATE_GET_MAX_SPEED: 242,
  DOMAIN_SET_METADATA: 264,
  DOMAIN_GET_METADATA: 265,
  CONNECT_LIST_ALL_DOMAINS: 273,
  DOMAIN_GET_JOB_STATS: 298,
  DOMAIN_MIGRATE_PERFORM3_PARAMS: 305,
  CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY: 316,
  CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY: 317,
  DOMAIN_EVENT_CALLBACK_LIFECYCLE: 318,
  NODE_GET_FREE_PAGES: 340,
  CONNECT_GET_ALL_DOMAIN_STATS: 344,
  DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION: 359,
  DOMAIN_EVENT_CALLBACK_JOB_COMPLETED: 363,
  DOMAIN_MIGRATE_START_POST_COPY: 364,
  DOMAIN_MIGRATE_GET_MAX_DOWNTIME: 387,
  DOMAIN_START_DIRTY_RATE_CALC: 427,
} as const;

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
