/**
 * Strings kept once per distinct byte sequence, looked up from the bytes in place: a reply that
 * repeats the same few names (a bulk-stats reply carries "cpu.time", "balloon.current", ... once
 * per VM: ~540 names per host with 30 VMs, 5 million per tick at 10,000 hosts) yields the same
 * string object each time, with no Buffer slice and no new string per occurrence.
 *
 * Why: decoding each name as its own Buffer slice and string was most of the allocation of a
 * collection tick at 10,000 hosts (bench/collect-scale.ts, CPU profile: XdrReader.string and the
 * slices ~25 % of the tick, garbage collection another ~22 %).
 */

/** How a table turns bytes it has not seen into their string (the same text the generic decoder gives). */
export type BytesToString = (buffer: Buffer, start: number, end: number) => string;

/** A string the table gives for a byte sequence; `next` is the one asked for after it last time. */
export interface TableEntry {
  /** The bytes (a copy), or undefined for a sequence the table did not keep, and for `start`. */
  readonly bytes: Buffer | undefined;
  readonly text: string;
  next?: TableEntry;
  /** A caller's verdict on this text, cached with the function that gave it (domain-stats-decode.ts's `wanted`). */
  judgedBy?: (text: string) => boolean;
  judged?: boolean;
}

/** UTF-8, as XdrReader.string decodes (invalid sequences become U+FFFD, as Buffer.toString does). */
export const utf8Text: BytesToString = (buffer, start, end) => buffer.toString('utf8', start, end);

/**
 * A bounded table from byte sequences to strings. Sequences longer than `maxBytes` and any beyond
 * `maxEntries` distinct ones are decoded each time and not kept, so a peer sending endless
 * distinct names costs what the generic decoder costs, never unbounded memory.
 *
 * Names come in runs that repeat (every record of a bulk-stats reply lists its parameters in the
 * same order), so each entry remembers which entry was asked for after it: `after` checks that
 * guess first, byte by byte, before hashing.
 */
export class ByteStringTable {
  private readonly buckets = new Map<number, TableEntry | TableEntry[]>();
  private entries = 0;
  /** The entry before a run's first sequence (pass it to `after` to start a run). */
  readonly start: TableEntry = { bytes: undefined, text: '' };

  constructor(
    private readonly text: BytesToString = utf8Text,
    private readonly maxEntries = 4096,
    private readonly maxBytes = 128,
  ) {}

  /** Distinct byte sequences kept. */
  get size(): number {
    return this.entries;
  }

  /** The string of buffer[start, end): the kept one when these bytes were seen before. */
  lookup(buffer: Buffer, start: number, end: number): string {
    return this.entry(buffer, start, end).text;
  }

  /** The entry of buffer[start, end) in a run, `previous` being the run's entry before it (or `this.start`). */
  after(previous: TableEntry, buffer: Buffer, start: number, end: number): TableEntry {
    const guess = previous.next;
    if (guess?.bytes !== undefined && sameBytes(guess.bytes, buffer, start, end - start)) return guess;
    const entry = this.entry(buffer, start, end);
    if (entry.bytes !== undefined) previous.next = entry;
    return entry;
  }

  private entry(buffer: Buffer, start: number, end: number): TableEntry {
    const length = end - start;
    if (length > this.maxBytes) return { bytes: undefined, text: this.text(buffer, start, end) };
    // FNV-1a over the bytes; equal hashes are confirmed byte by byte.
    let hash = 0x811c9dc5 ^ length;
    for (let i = start; i < end; i++) hash = Math.imul(hash ^ buffer[i], 0x01000193);
    // Kept to 30 bits: a small integer key (a larger one would be a heap number, allocated per lookup).
    hash &= 0x3fffffff;
    const bucket = this.buckets.get(hash);
    if (bucket !== undefined) {
      if (!Array.isArray(bucket)) {
        if (sameBytes(bucket.bytes!, buffer, start, length)) return bucket;
      } else {
        for (const entry of bucket) if (sameBytes(entry.bytes!, buffer, start, length)) return entry;
      }
    }
    const text = this.text(buffer, start, end);
    if (this.entries >= this.maxEntries) return { bytes: undefined, text };
    // A copy of the bytes: a slice would keep the whole reply alive.
    const entry: TableEntry = { bytes: Buffer.from(buffer.subarray(start, end)), text };
    this.entries++;
    if (bucket === undefined) this.buckets.set(hash, entry);
    else if (Array.isArray(bucket)) bucket.push(entry);
    else this.buckets.set(hash, [bucket, entry]);
    return entry;
  }
}

function sameBytes(kept: Buffer, buffer: Buffer, start: number, length: number): boolean {
  if (kept.length !== length) return false;
  for (let i = 0; i < length; i++) if (kept[i] !== buffer[start + i]) return false;
  return true;
}
