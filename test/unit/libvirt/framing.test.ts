import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodePacket, FramingError, MESSAGE_MAX_BYTES, MessageStatus, MessageType, PacketDecoder, REMOTE_PROGRAM } from '../../../src/libvirt/protocol.js';
import { readRemoteError, readTypedParams } from '../../../src/libvirt/wire.js';
import { XdrReader } from '../../../src/libvirt/xdr.js';

const header = { program: REMOTE_PROGRAM, version: 1, procedure: 6, type: MessageType.REPLY, serial: 9, status: MessageStatus.OK };

// A deterministic generator so a failing fuzz case can be replayed.
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe('framing', () => {
  it('reassembles packets split at every byte boundary and glued together', () => {
    const a = encodePacket(header, Buffer.from([0, 0, 0, 1]));
    const b = encodePacket({ ...header, serial: 10 }, Buffer.alloc(0));
    const stream = Buffer.concat([a, b]);
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new PacketDecoder();
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(got.map((p) => p.header.serial)).toEqual([9, 10]);
    }
  });

  it('rejects an oversized length word before buffering the body', () => {
    const d = new PacketDecoder();
    const len = Buffer.alloc(4);
    len.writeUInt32BE(MESSAGE_MAX_BYTES + 5);
    expect(() => d.push(len)).toThrow(FramingError);
    const small = Buffer.alloc(4);
    small.writeUInt32BE(8);
    expect(() => new PacketDecoder().push(small)).toThrow(/shorter than a message header/);
  });

  it('survives random and mutated packets: every input either decodes or throws a clean error', () => {
    const next = rng(20261125);
    const valid = encodePacket(header, Buffer.from('00000001000000036b65790000000004000000000000002a', 'hex'));
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      let input: Buffer;
      if (i % 2 === 0) input = randomBytes(Math.floor(next() * 200));
      else {
        input = Buffer.from(valid);
        const flips = 1 + Math.floor(next() * 4);
        for (let f = 0; f < flips; f++) input[Math.floor(next() * input.length)] = Math.floor(next() * 256);
      }
      try {
        for (const p of new PacketDecoder().push(input)) {
          // Payload decoders must also fail cleanly on garbage.
          try {
            readTypedParams(new XdrReader(p.payload), 262_144);
          } catch (e) {
            expect((e as Error).name).toMatch(/XdrError|TypeError|RangeError/);
          }
          try {
            readRemoteError(new XdrReader(p.payload));
          } catch (e) {
            expect((e as Error).name).toMatch(/XdrError|RangeError/);
          }
          decoded++;
        }
        rejected += 0;
      } catch (e) {
        expect(e).toBeInstanceOf(FramingError);
        rejected++;
      }
    }
    expect(decoded + rejected).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(100);
  });
});
