/**
 * Property-based tests (fast-check) of everything that decodes bytes from a peer: framing, XDR,
 * the shared structures, and a connection's handling of any reply. Any input either decodes or
 * fails with a typed error (FramingError, XdrError, ConnectionClosedError); what a decode returns
 * is bounded by the bytes it was given; a call always settles.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LibvirtConnection } from '../../../src/libvirt/connection.js';
import { ConnectionClosedError, LibvirtError } from '../../../src/libvirt/errors.js';
import {
  encodePacket,
  FramingError,
  HEADER_BYTES,
  LENGTH_WORD_BYTES,
  MESSAGE_MAX_BYTES,
  MessageStatus,
  MessageType,
  PacketDecoder,
  Proc,
  REMOTE_PROGRAM,
} from '../../../src/libvirt/protocol.js';
import { readDomain, readRemoteError, readTypedParamList } from '../../../src/libvirt/wire.js';
import { XdrError, XdrReader } from '../../../src/libvirt/xdr.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

/** Run decode; a thrown error must be one of the typed ones. */
function decodeOrTypedError<T>(decode: () => T, ...types: (new (...args: never[]) => Error)[]): T | undefined {
  try {
    return decode();
  } catch (e) {
    if (!types.some((t) => e instanceof t)) throw new Error(`untyped ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return undefined;
  }
}

/** Byte sequences: random, and valid packets with a few bytes overwritten (closer to the real failure). */
const packetLike = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.tuple(fc.uint8Array({ maxLength: 120 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([payload, flips]) => {
    const packet = encodePacket(
      { program: REMOTE_PROGRAM, version: 1, procedure: 59, type: MessageType.REPLY, serial: 1, status: MessageStatus.OK },
      Buffer.from(payload),
    );
    for (const [at, byte] of flips) packet[at % packet.length] = byte;
    return new Uint8Array(packet);
  }),
);

describe('packet decoding (property-based)', () => {
  it('any byte sequence, cut anywhere, yields packets or a FramingError, and never holds more than it was given', () => {
    fc.assert(
      fc.property(packetLike, fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const input = Buffer.from(bytes);
        const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const decoder = new PacketDecoder();
        let consumed = 0;
        decodeOrTypedError(() => {
          let from = 0;
          for (const to of [...points, input.length]) {
            for (const p of decoder.push(input.subarray(from, to))) {
              consumed += LENGTH_WORD_BYTES + HEADER_BYTES + p.payload.length;
              expect(p.payload.length).toBeLessThanOrEqual(MESSAGE_MAX_BYTES);
            }
            from = to;
          }
        }, FramingError);
        expect(consumed).toBeLessThanOrEqual(input.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a length word beyond the message limit before buffering anything for it', () => {
    fc.assert(
      fc.property(fc.integer({ min: MESSAGE_MAX_BYTES + LENGTH_WORD_BYTES + 1, max: 0xffffffff }), (length) => {
        const word = Buffer.alloc(4);
        word.writeUInt32BE(length);
        expect(() => new PacketDecoder().push(word)).toThrow(FramingError);
      }),
    );
  });
});

describe('XDR decoding (property-based)', () => {
  it('typed parameters from any bytes: a list no larger than the input, or an XdrError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const params = decodeOrTypedError(() => readTypedParamList(new XdrReader(Buffer.from(bytes)), 64), XdrError);
        if (!params) return;
        // Each parameter takes at least a 4-byte name length, a 4-byte type and a 4-byte value.
        expect(params.length * 12).toBeLessThanOrEqual(bytes.length);
        const text = params.reduce((n, p) => n + p.field.length + (typeof p.value === 'string' ? p.value.length : 0), 0);
        expect(text).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('remote_error and domain references from any bytes: a value or an XdrError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const error = decodeOrTypedError(() => readRemoteError(new XdrReader(Buffer.from(bytes))), XdrError);
        if (error) {
          expect(error).toBeInstanceOf(LibvirtError);
          expect(error.message.length).toBeLessThanOrEqual(bytes.length + 40);
        }
        const domain = decodeOrTypedError(() => readDomain(new XdrReader(Buffer.from(bytes))), XdrError);
        if (domain) expect(domain.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      }),
      { numRuns: 3000 },
    );
  });

  it('arrays and opaques with any count or length word: bounded by what is left, or an XdrError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 }), (word, rest) => {
        const head = Buffer.alloc(4);
        head.writeUInt32BE(word);
        const input = Buffer.concat([head, Buffer.from(rest)]);
        const items = decodeOrTypedError(() => new XdrReader(input).array(0xffffffff, (r) => r.int()), XdrError);
        if (items) expect(items.length * 4).toBeLessThanOrEqual(rest.length);
        const opaque = decodeOrTypedError(() => new XdrReader(input).opaque(0xffffffff), XdrError);
        if (opaque) expect(opaque.length).toBeLessThanOrEqual(rest.length);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('a connection given any reply (property-based)', () => {
  let daemon: FakeDaemon;
  // What the daemon answers to the next CONNECT_GET_HOSTNAME: status and payload.
  let next: { status: MessageStatus; payload: Buffer } = { status: MessageStatus.OK, payload: Buffer.alloc(0) };
  beforeAll(async () => {
    daemon = await startFakeDaemon({ onCall: (call) => call.procedure === Proc.CONNECT_GET_HOSTNAME && call.reply(next.payload, next.status) });
  });
  afterAll(() => daemon.close());

  it('settles every call: a hostname, a LibvirtError, or a protocol error that closes the connection', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(MessageStatus.OK, MessageStatus.ERROR), fc.uint8Array({ maxLength: 80 }), async (status, payload) => {
        next = { status, payload: Buffer.from(payload) };
        const conn = await LibvirtConnection.open(daemon.uri);
        let timer: NodeJS.Timeout | undefined;
        const outcome = await Promise.race([
          conn.connectGetHostname().then(
            (hostname) => ({ hostname }),
            (error: Error) => ({ error }),
          ),
          new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), 2000))),
        ]);
        clearTimeout(timer);
        await conn.close();
        expect(outcome).not.toBe('still pending');
        if ('error' in (outcome as object)) {
          const error = (outcome as { error: Error }).error;
          expect(error instanceof LibvirtError || error instanceof ConnectionClosedError).toBe(true);
          if (error instanceof ConnectionClosedError) expect(error.message).toMatch(/protocol error/);
          if (status === MessageStatus.OK) expect(error).toBeInstanceOf(ConnectionClosedError);
        } else expect(status).toBe(MessageStatus.OK);
      }),
      { numRuns: 60 },
    );
  });
});
