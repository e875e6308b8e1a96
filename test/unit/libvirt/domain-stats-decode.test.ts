/**
 * The bulk-stats fast decoder (domain-stats-decode.ts) gives exactly what the generated decoder
 * followed by domainFromWire and typedParamsRecord gives: on the replies recorded from libvirt
 * 11.3, on generated replies (fast-check), and on damaged ones (the same XdrError, or both decode
 * to the same records). The name table it uses (xdr-intern.ts) gives every byte sequence its own
 * text, colliding hashes and a full table included.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TypedParamType } from '../../../src/libvirt/constants.js';
import { decodeAllDomainStatsRet } from '../../../src/libvirt/domain-stats-decode.js';
import {
  decodeRemoteConnectGetAllDomainStatsRet,
  encodeRemoteConnectGetAllDomainStatsRet,
  type RemoteTypedParamValue,
} from '../../../src/libvirt/generated/codecs.js';
import { MessageStatus, Proc } from '../../../src/libvirt/protocol.js';
import { domainFromWire, typedParamsRecord } from '../../../src/libvirt/wire.js';
import { ByteStringTable } from '../../../src/libvirt/xdr-intern.js';
import { XdrReader, XdrWriter } from '../../../src/libvirt/xdr.js';

/** The generic path: generated codec, then our names (what connectGetAllDomainStats returned before). */
function generic(body: Buffer) {
  const r = new XdrReader(body);
  const records = decodeRemoteConnectGetAllDomainStatsRet(r).retStats.map((s) => ({ domain: domainFromWire(s.dom), params: typedParamsRecord(s.params) }));
  return { records, remaining: r.remaining };
}

function fast(body: Buffer) {
  const r = new XdrReader(body);
  const records = decodeAllDomainStatsRet(r);
  return { records, remaining: r.remaining };
}

/** Either decoder's records, or its error as "name: message". */
function outcome(decode: () => unknown): unknown {
  try {
    return decode();
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

const recordingsDir = join(import.meta.dirname, 'recorded');

describe('the bulk-stats fast decoder', () => {
  const recorded = ['lab1-observe.json', 'migrate-lab1.json', 'migrate-lab2.json'].flatMap((file) =>
    (JSON.parse(readFileSync(join(recordingsDir, file), 'utf8')) as { exchanges: { procedure: number; status: number; reply: string }[] }).exchanges
      .filter((e) => e.procedure === Proc.CONNECT_GET_ALL_DOMAIN_STATS && e.status === MessageStatus.OK)
      .map((e, i) => ({ name: `${file} #${i}`, body: Buffer.from(e.reply, 'base64') })),
  );

  it('has recorded replies to check against', () => {
    expect(recorded.length).toBeGreaterThanOrEqual(3);
  });

  it.each(recorded)('gives the generic decoder’s records for the recorded reply $name', ({ body }) => {
    const want = generic(body);
    expect(want.records.length).toBeGreaterThan(0);
    expect(fast(body)).toStrictEqual(want);
  });

  it('gives the generic decoder’s records for a 30-VM reply built from the recorded guest (as the scale bench’s fake hosts send)', () => {
    const { retStats } = decodeRemoteConnectGetAllDomainStatsRet(new XdrReader(recorded[0].body));
    const many = Array.from({ length: 30 }, (_, i) => ({
      dom: { name: `vm${i}`, uuid: Buffer.from(`00000000000040008000${i.toString(16).padStart(12, '0')}`, 'hex'), id: i + 1 },
      params: retStats[0].params,
    }));
    const w = new XdrWriter();
    encodeRemoteConnectGetAllDomainStatsRet(w, { retStats: many });
    const body = w.toBuffer();
    expect(fast(body)).toStrictEqual(generic(body));
    expect(fast(body).records[29].domain.uuid).toBe('00000000-0000-4000-8000-00000000001d');
  });

  /** Names from a small set (repeats within and across records, non-ASCII, a prototype's name), values of every type. */
  const name = fc.oneof(
    fc.constantFrom('state.state', 'cpu.time', 'balloon.current', 'block.0.name', 'vcpu.0.time', 'naïve.名前', '__proto__', 'constructor', ''),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 6 }),
  );
  const value: fc.Arbitrary<RemoteTypedParamValue> = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((i) => ({ type: TypedParamType.INT, i })),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((ui) => ({ type: TypedParamType.UINT, ui })),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((l) => ({ type: TypedParamType.LLONG, l })),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((ul) => ({ type: TypedParamType.ULLONG, ul })),
    fc.double().map((d) => ({ type: TypedParamType.DOUBLE, d })),
    fc.integer({ min: -3, max: 3 }).map((b) => ({ type: TypedParamType.BOOLEAN, b })),
    fc.string({ unit: 'binary', maxLength: 10 }).map((s) => ({ type: TypedParamType.STRING, s })),
  );
  const reply = fc
    .array(
      fc.record({
        dom: fc.record({
          name: fc.string({ unit: 'binary', maxLength: 10 }),
          uuid: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b)),
          id: fc.integer({ min: -1, max: 1000 }),
        }),
        params: fc.array(fc.record({ field: name, value }), { maxLength: 12 }),
      }),
      { maxLength: 5 },
    )
    .map((retStats) => {
      const w = new XdrWriter();
      encodeRemoteConnectGetAllDomainStatsRet(w, { retStats });
      return w.toBuffer();
    });

  it('gives the generic decoder’s records for any well-formed reply', () => {
    fc.assert(
      fc.property(reply, (body) => {
        expect(fast(body)).toStrictEqual(generic(body));
      }),
      { numRuns: 500 },
    );
  });

  it('fails where the generic decoder fails, with its error, on damaged replies (bytes overwritten, cut short)', () => {
    let failures = 0;
    fc.assert(
      fc.property(reply, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), (body, flips, cut) => {
        const damaged = Buffer.from(body);
        for (const [at, byte] of flips) if (damaged.length > 0) damaged[at % damaged.length] = byte;
        const bytes = flips.length === 0 && damaged.length > 0 ? damaged.subarray(0, cut % damaged.length) : damaged;
        const want = outcome(() => generic(bytes));
        if (typeof want === 'string') failures++;
        expect(outcome(() => fast(bytes))).toStrictEqual(want);
      }),
      { numRuns: 1000 },
    );
    // The property is about failures: most damaged replies must fail.
    expect(failures).toBeGreaterThan(200);
  });

  /** A `wanted` filter: what the generic records keep of the names it accepts (the last of a repeated name wins, as there). */
  const keepOnly = (records: ReturnType<typeof generic>['records'], wanted: (n: string) => boolean) =>
    records.map((rec) => ({ domain: rec.domain, params: Object.fromEntries(Object.entries(rec.params).filter(([n]) => wanted(n))) }));
  const filtered = (body: Buffer, wanted: (n: string) => boolean) => {
    const r = new XdrReader(body);
    const records = decodeAllDomainStatsRet(r, wanted);
    return { records, remaining: r.remaining };
  };

  it('with a wanted filter: the generic records with only the accepted names, on recorded and generated replies, and every value passed over is checked', () => {
    const collectorLike = (n: string) => /^(state\.state|cpu\.time|balloon\.current|block\.\d+\.name)$/.test(n);
    for (const { body } of recorded) {
      const want = generic(body);
      const got = filtered(body, collectorLike);
      expect(got).toStrictEqual({ records: keepOnly(want.records, collectorLike), remaining: want.remaining });
      // Something was really passed over.
      expect(Object.keys(got.records[0].params).length).toBeLessThan(Object.keys(want.records[0].params).length);
    }
    fc.assert(
      fc.property(reply, fc.func(fc.boolean()), (body, pick) => {
        const wanted = (n: string) => pick(n);
        const want = generic(body);
        expect(filtered(body, wanted)).toStrictEqual({ records: keepOnly(want.records, wanted), remaining: want.remaining });
      }),
      { numRuns: 300 },
    );
  });

  it('with a wanted filter: fails where the generic decoder fails, with its error, on damaged replies', () => {
    fc.assert(
      fc.property(reply, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat(), (body, flips, cut) => {
        const damaged = Buffer.from(body);
        for (const [at, byte] of flips) if (damaged.length > 0) damaged[at % damaged.length] = byte;
        const bytes = flips.length === 0 && damaged.length > 0 ? damaged.subarray(0, cut % damaged.length) : damaged;
        const want = outcome(() => generic(bytes));
        const none = () => false;
        const got = outcome(() => filtered(bytes, none));
        if (typeof want === 'string') expect(got).toStrictEqual(want);
        else
          expect(got).toStrictEqual({
            records: keepOnly((want as ReturnType<typeof generic>).records, none),
            remaining: (want as ReturnType<typeof generic>).remaining,
          });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('ByteStringTable', () => {
  const bytes = (s: string) => Buffer.from(`..${s}..`);
  const lookup = (t: ByteStringTable, s: string) => {
    const b = bytes(s);
    return t.lookup(b, 2, b.length - 2);
  };

  it('gives each byte sequence its own text when two share a hash (FNV-1a of "p.132789" and "p.729192")', () => {
    const t = new ByteStringTable();
    expect(lookup(t, 'p.132789')).toBe('p.132789');
    expect(lookup(t, 'p.729192')).toBe('p.729192');
    expect(lookup(t, 'p.132789')).toBe('p.132789');
    expect(lookup(t, 'p.729192')).toBe('p.729192');
    expect(t.size).toBe(2);
  });

  it('decodes but keeps no more than its bound of distinct sequences, nor any longer than its byte bound', () => {
    const t = new ByteStringTable(undefined, 2, 8);
    for (const s of ['a', 'b', 'c', 'd', 'a', 'c']) expect(lookup(t, s)).toBe(s);
    expect(t.size).toBe(2);
    const long = new ByteStringTable(undefined, 10, 8);
    expect(lookup(long, 'a-long-name')).toBe('a-long-name');
    expect(long.size).toBe(0);
  });

  it('decodes UTF-8 as Buffer.toString does, invalid sequences included', () => {
    const t = new ByteStringTable();
    const b = Buffer.from([0x6e, 0x61, 0xc3, 0xaf, 0xff, 0xc3]);
    expect(t.lookup(b, 0, b.length)).toBe(b.toString('utf8'));
    expect(t.lookup(b, 0, b.length)).toBe(b.toString('utf8'));
  });
});

describe('ByteStringTable runs', () => {
  it('gives the right text when a run differs from the last one (the guess is checked, not trusted)', () => {
    const t = new ByteStringTable();
    const run = (names: string[]) => {
      const b = Buffer.from(names.join(''));
      let at = 0;
      let previous = t.start;
      return names.map((n) => {
        previous = t.after(previous, b, at, at + Buffer.byteLength(n));
        at += Buffer.byteLength(n);
        return previous.text;
      });
    };
    expect(run(['a', 'bb', 'ccc'])).toEqual(['a', 'bb', 'ccc']);
    expect(run(['a', 'bc', 'ccc'])).toEqual(['a', 'bc', 'ccc']);
    expect(run(['a', 'bb', 'cc'])).toEqual(['a', 'bb', 'cc']);
    expect(run(['x', 'bb', 'cc', 'ccc'])).toEqual(['x', 'bb', 'cc', 'ccc']);
    expect(t.size).toBe(6);
  });
});
