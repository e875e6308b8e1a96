/**
 * XDR (RFC 4506) encoding as libvirt's RPC uses it. The reader checks every length against what
 * is left in the buffer and against a caller-given maximum, so a garbled packet is an error and
 * never a huge allocation.
 */

import { REMOTE_STRING_MAX } from './generated/protocol.js';
import type { BytesToString } from './xdr-intern.js';

export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdrError';
  }
}

/** "struct.field: " for messages about a field the generated codecs name (remote_protocol.x's names). */
function where(field: string | undefined): string {
  return field ? `${field}: ` : '';
}

/** `length` rounded up to a multiple of 4 (XDR's unit), exact for every length up to 2^53. */
export function paddedLength(length: number): number {
  return Math.ceil(length / 4) * 4;
}

export class XdrWriter {
  private buffer: Buffer;
  private offset = 0;

  constructor(initialBytes = 256) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(bytes: number): void {
    if (this.offset + bytes <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.offset + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buffer.copy(next, 0, 0, this.offset);
    this.buffer = next;
  }

  int(value: number): this {
    this.ensure(4);
    this.buffer.writeInt32BE(value, this.offset);
    this.offset += 4;
    return this;
  }

  uint(value: number): this {
    this.ensure(4);
    this.buffer.writeUInt32BE(value >>> 0, this.offset);
    this.offset += 4;
    return this;
  }

  hyper(value: bigint | number): this {
    this.ensure(8);
    this.buffer.writeBigInt64BE(BigInt(value), this.offset);
    this.offset += 8;
    return this;
  }

  uhyper(value: bigint | number): this {
    this.ensure(8);
    this.buffer.writeBigUInt64BE(BigInt(value), this.offset);
    this.offset += 8;
    return this;
  }

  double(value: number): this {
    this.ensure(8);
    this.buffer.writeDoubleBE(value, this.offset);
    this.offset += 8;
    return this;
  }

  bool(value: boolean): this {
    return this.int(value ? 1 : 0);
  }

  /**
   * Variable-length opaque `opaque x<maxBytes>`: length, bytes, zero padding to 4.
   * @throws RangeError when longer than `maxBytes` (the bound the .x file gives the field): the
   * peer would refuse the whole message, better to say which field here.
   */
  opaque(bytes: Uint8Array, maxBytes: number, field?: string): this {
    if (bytes.length > maxBytes) throw new RangeError(`${where(field)}opaque of ${bytes.length} bytes exceeds its limit of ${maxBytes}`);
    this.uint(bytes.length);
    return this.fixedOpaque(bytes);
  }

  /**
   * Fixed-length opaque (e.g. a 16-byte UUID): bytes and padding, no length.
   * @throws RangeError when `length` is given and the bytes are not exactly that long.
   */
  fixedOpaque(bytes: Uint8Array, length?: number, field?: string): this {
    if (length !== undefined && bytes.length !== length) throw new RangeError(`${where(field)}opaque[${length}] given ${bytes.length} bytes`);
    // Arithmetic, not `& ~3`: the bitwise form wraps to a negative size from 2^31 bytes on.
    const padded = paddedLength(bytes.length);
    this.ensure(padded);
    this.buffer.set(bytes, this.offset);
    this.buffer.fill(0, this.offset + bytes.length, this.offset + padded);
    this.offset += padded;
    return this;
  }

  /** `string x<maxBytes>`; libvirt's strings are all `remote_nonnull_string`, bounded by REMOTE_STRING_MAX (the default). */
  string(value: string, maxBytes: number = REMOTE_STRING_MAX, field?: string): this {
    return this.opaque(Buffer.from(value, 'utf8'), maxBytes, field);
  }

  /** A pointer (`*`) to a string: present flag then the string. */
  optionalString(value: string | null | undefined, maxBytes: number = REMOTE_STRING_MAX): this {
    if (value === null || value === undefined) return this.bool(false);
    return this.bool(true).string(value, maxBytes);
  }

  /**
   * Variable-length array `T x<maxItems>`: count, then the items.
   * @throws RangeError when there are more than `maxItems` (the bound the .x file gives the field).
   */
  array<T>(items: readonly T[], maxItems: number, writeItem: (w: this, item: T) => void, field?: string): this {
    if (items.length > maxItems) throw new RangeError(`${where(field)}array of ${items.length} items exceeds its limit of ${maxItems}`);
    this.uint(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  get length(): number {
    return this.offset;
  }

  toBuffer(): Buffer {
    return this.buffer.subarray(0, this.offset);
  }
}

export class XdrReader {
  private offset: number;

  constructor(
    private readonly buffer: Buffer,
    start = 0,
    private readonly end = buffer.length,
  ) {
    this.offset = start;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(bytes: number, what: string): void {
    // Not `bytes < 0`-only: NaN or a fraction from a caller's arithmetic must fail too, not pass every comparison.
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.remaining) {
      throw new XdrError(`truncated data: ${what} needs ${bytes} bytes at offset ${this.offset}, ${this.remaining} left`);
    }
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const high = this.buffer.readInt32BE(this.offset);
    // Below 2^53 in magnitude (every counter libvirt sends in practice) the value is exact as a
    // number, so one BigInt is made instead of readBigInt64BE's several (5 million a tick at
    // 10,000 hosts); beyond, the exact path.
    const v =
      high >= -0x200000 && high < 0x200000 ? BigInt(high * 0x100000000 + this.buffer.readUInt32BE(this.offset + 4)) : this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const high = this.buffer.readUInt32BE(this.offset);
    // As hyper(): one BigInt from an exact number below 2^53.
    const v = high < 0x200000 ? BigInt(high * 0x100000000 + this.buffer.readUInt32BE(this.offset + 4)) : this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buffer.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }

  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError(`bad boolean ${v} at offset ${this.offset - 4}`);
    return v === 1;
  }

  /**
   * Fixed-length opaque `opaque x[length]`: `length` bytes and padding to 4.
   * @throws XdrError when `length` is not a non-negative integer or the bytes are not there; the
   * padded size is computed in arithmetic (never `& ~3`, which wraps to 0 or below near 2^32).
   */
  fixedOpaque(length: number): Buffer {
    const start = this.skipPadded(length);
    return this.buffer.subarray(start, start + length);
  }

  opaque(maxBytes: number, field?: string): Buffer {
    return this.fixedOpaque(this.opaqueLength(maxBytes, field));
  }

  /** The length word of `opaque x<maxBytes>` / `string x<maxBytes>`, checked against its bound. */
  private opaqueLength(maxBytes: number, field: string | undefined): number {
    const length = this.uint();
    if (length > maxBytes) throw new XdrError(`${where(field)}opaque of ${length} bytes exceeds its limit of ${maxBytes}`);
    return length;
  }

  /**
   * The start of `length` bytes and their padding, which are skipped (the checks fixedOpaque makes).
   * @throws XdrError as fixedOpaque.
   */
  private skipPadded(length: number): number {
    if (!Number.isSafeInteger(length) || length < 0) throw new XdrError(`bad opaque length ${length} at offset ${this.offset}`);
    const padded = paddedLength(length);
    // need()'s check with its message made only on failure: a template argument here made a string
    // per name, string and UUID decoded (~60 bytes each; most of a 10,000-host tick's garbage).
    if (padded > this.remaining) this.need(padded, `opaque[${length}]`);
    const start = this.offset;
    this.offset += padded;
    return start;
  }

  /** Pass over `bytes` bytes (a value not wanted), with the checks reading it makes. @throws XdrError as reading them. */
  skip(bytes: number, what: string): void {
    this.need(bytes, what);
    this.offset += bytes;
  }

  /** Pass over a `string x<maxBytes>` (a value not wanted): the same checks and errors as string(), no text made. */
  skipString(maxBytes: number, field?: string): void {
    this.skipPadded(this.opaqueLength(maxBytes, field));
  }

  /** `string x<maxBytes>` as UTF-8 (decoded in place: no Buffer slice). */
  string(maxBytes: number, field?: string): string {
    const length = this.opaqueLength(maxBytes, field);
    const start = this.skipPadded(length);
    return this.buffer.toString('utf8', start, start + length);
  }

  /**
   * `string x<maxBytes>` decoded by `text` from its bytes in place (e.g. a ByteStringTable's
   * lookup, xdr-intern.ts, which gives a repeated name as one string object without allocating):
   * the same checks and errors as string().
   */
  stringWith(maxBytes: number, text: BytesToString, field?: string): string {
    const length = this.opaqueLength(maxBytes, field);
    const start = this.skipPadded(length);
    return text(this.buffer, start, start + length);
  }

  /** Fixed-length opaque `opaque x[length]` decoded by `text` from its bytes in place (e.g. a UUID as text): the checks of fixedOpaque. */
  fixedOpaqueWith(length: number, text: BytesToString): string {
    const start = this.skipPadded(length);
    return text(this.buffer, start, start + length);
  }

  optionalString(maxBytes: number): string | null {
    return this.bool() ? this.string(maxBytes) : null;
  }

  /**
   * Variable-length array `T x<maxItems>`; pass the bound the .x file gives this very field (never
   * a larger one of our own: libvirt never sends more, so more is a hostile or garbled peer).
   * @throws XdrError when the count exceeds `maxItems` or cannot fit in what is left.
   */
  array<T>(maxItems: number, readItem: (r: this) => T, field?: string): T[] {
    const count = this.arrayLength(maxItems, field);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(readItem(this));
    return items;
  }

  /**
   * The count of a variable-length array `T x<maxItems>`, checked as array() checks it, for a
   * decoder that reads the items itself.
   * @throws XdrError when the count exceeds `maxItems` or cannot fit in what is left.
   */
  arrayLength(maxItems: number, field?: string): number {
    const count = this.uint();
    if (count > maxItems) throw new XdrError(`${where(field)}array of ${count} items exceeds its limit of ${maxItems}`);
    // Every item takes at least 4 bytes: a count beyond that is garbage, not a reason to allocate.
    if (count * 4 > this.remaining) throw new XdrError(`${where(field)}array of ${count} items cannot fit in the ${this.remaining} bytes left`);
    return count;
  }
}
