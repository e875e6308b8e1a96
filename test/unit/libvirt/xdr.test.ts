import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TypedParamType } from '../../../src/libvirt/constants.js';
import { readDomain, readRemoteError, readTypedParamList, writeDomain, writeTypedParams, type TypedParam } from '../../../src/libvirt/wire.js';
import { XdrError, XdrReader, XdrWriter } from '../../../src/libvirt/xdr.js';

describe('XDR', () => {
  it('round-trips every primitive with padding to 4 bytes', () => {
    const w = new XdrWriter(4);
    w.int(-5)
      .uint(0xfffffffe)
      .hyper(-(2n ** 62n))
      .uhyper(2n ** 64n - 1n)
      .double(3.25)
      .bool(true)
      .string('héllo')
      .optionalString(null)
      .optionalString('x')
      .fixedOpaque(Buffer.from([1, 2, 3]));
    const buf = w.toBuffer();
    expect(buf.length % 4).toBe(0);
    const r = new XdrReader(buf);
    expect(r.int()).toBe(-5);
    expect(r.uint()).toBe(0xfffffffe);
    expect(r.hyper()).toBe(-(2n ** 62n));
    expect(r.uhyper()).toBe(2n ** 64n - 1n);
    expect(r.double()).toBe(3.25);
    expect(r.bool()).toBe(true);
    expect(r.string(100)).toBe('héllo');
    expect(r.optionalString(100)).toBeNull();
    expect(r.optionalString(100)).toBe('x');
    expect([...r.fixedOpaque(3)]).toEqual([1, 2, 3]);
    expect(r.remaining).toBe(0);
  });

  it('rejects lengths beyond the limit or the buffer instead of allocating', () => {
    const w = new XdrWriter().uint(0xffffffff);
    expect(() => new XdrReader(w.toBuffer()).string(1 << 20)).toThrow(XdrError);
    const arr = new XdrWriter().uint(1_000_000).toBuffer();
    expect(() => new XdrReader(arr).array(2_000_000, (r) => r.int())).toThrow(/cannot fit/);
    expect(() => new XdrReader(Buffer.alloc(2)).int()).toThrow(/truncated/);
  });

  it('round-trips all seven typed parameter types', () => {
    const params: TypedParam[] = [
      { field: 'i', type: TypedParamType.INT, value: -7 },
      { field: 'u', type: TypedParamType.UINT, value: 4_000_000_000 },
      { field: 'l', type: TypedParamType.LLONG, value: -(2n ** 40n) },
      { field: 'ul', type: TypedParamType.ULLONG, value: 2n ** 63n },
      { field: 'd', type: TypedParamType.DOUBLE, value: 0.125 },
      { field: 'b', type: TypedParamType.BOOLEAN, value: true },
      { field: 's', type: TypedParamType.STRING, value: 'xbzrle' },
    ];
    const w = new XdrWriter();
    writeTypedParams(w, params, 64);
    expect(readTypedParamList(new XdrReader(w.toBuffer()), 64)).toEqual(params);
  });

  it('round-trips a domain reference with its UUID in canonical form', () => {
    const d = { name: 'web1', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f', id: 3 };
    const w = new XdrWriter();
    writeDomain(w, d);
    expect(readDomain(new XdrReader(w.toBuffer()))).toEqual(d);
  });

  it('maps remote_error to LibvirtError with code and domain names', () => {
    const w = new XdrWriter().int(55).int(10).optionalString('Requested operation is not valid: domain is not running').int(2);
    w.bool(false).optionalString(null).optionalString(null).optionalString(null).int(0).int(0).bool(false);
    const e = readRemoteError(new XdrReader(w.toBuffer()));
    expect(e.code).toBe(55);
    expect(e.codeName).toBe('VIR_ERR_OPERATION_INVALID');
    expect(e.domainName).toBe('VIR_FROM_QEMU');
    expect(e.message).toContain('not running');
  });
});

describe('XDR truncated strings', () => {
  it('a string whose bytes (with padding) run past the data names its length, what it needs and what is left', () => {
    // Length 5 (8 bytes padded) with only 4 bytes after the length word.
    const data = Buffer.from([0, 0, 0, 5, 0x61, 0x62, 0x63, 0x64]);
    expect(() => new XdrReader(data).string(100)).toThrow(new XdrError('truncated data: opaque[5] needs 8 bytes at offset 4, 4 left'));
    expect(() => new XdrReader(data).skipString(100)).toThrow(new XdrError('truncated data: opaque[5] needs 8 bytes at offset 4, 4 left'));
    // Exactly enough: read.
    expect(new XdrReader(Buffer.from([0, 0, 0, 4, 0x61, 0x62, 0x63, 0x64])).string(100)).toBe('abcd');
  });
});

describe('XDR hyper and unsigned hyper', () => {
  it('read every 64-bit value exactly, on both sides of 2^53 (numbers below it, BigInt arithmetic beyond)', () => {
    const edges = [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n];
    const signedEdges = [...edges.filter((v) => v < 2n ** 63n), ...edges.filter((v) => v > 0n && v <= 2n ** 63n).map((v) => -v)];
    fc.assert(
      fc.property(
        fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(...edges)),
        fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(...signedEdges)),
        (u, h) => {
          const r = new XdrReader(new XdrWriter().uhyper(u).hyper(h).toBuffer());
          expect(r.uhyper()).toBe(u);
          expect(r.hyper()).toBe(h);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
