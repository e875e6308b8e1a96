/**
 * Sharing of the strings and string lists every host repeats (CPU model and feature names, the
 * models' blocker lists), so a cluster of many hosts keeps each once.
 *
 * Why: a string a regular expression cut out of a libvirt XML reply is, in V8, a slice that keeps
 * the whole reply alive. Measured with the scale bench (bench/collect-scale.ts, 300 hosts): the
 * host CPU data kept each host's two domain-capabilities replies (213 KB a host) and its
 * capabilities reply (25 KB) alive, plus ~130 copies of each feature name per host — at that rate
 * 10,000 hosts would hold ~2.4 GB of old heap, which every full garbage collection marks. Interned, the strings are
 * flat copies shared by every host, and equal feature lists are one array.
 */

/** Canonical flat strings and string lists, shared across hosts. Grows with the distinct names seen (bounded by libvirt's CPU map). */
export class Interner {
  private readonly strings = new Map<string, string>();
  private readonly lists = new Map<string, readonly string[]>();
  private readonly records = new Map<string, Readonly<Record<string, string[]>>>();

  /** The canonical copy of `s`: flat (not a slice of the reply it came from). */
  string(s: string): string {
    let kept = this.strings.get(s);
    if (kept === undefined) {
      // A flat copy: the key of the map may itself be a slice of a large reply.
      kept = Buffer.from(s, 'utf8').toString('utf8');
      this.strings.set(kept, kept);
    }
    return kept;
  }

  /** The canonical list equal to `list` (its strings interned). Callers must not mutate it. */
  list(list: readonly string[]): string[] {
    const key = list.join('\u0000');
    let kept = this.lists.get(key);
    if (kept === undefined) {
      kept = Object.freeze(list.map((s) => this.string(s)));
      this.lists.set(this.string(key), kept);
    }
    return kept as string[];
  }

  /** The canonical record equal to `record` (model -> blocking features): one object for every host whose CPU map says the same. */
  record(record: Readonly<Record<string, readonly string[]>>): Record<string, string[]> {
    const entries = Object.entries(record);
    const key = entries.map(([k, v]) => `${k}\u0001${v.join('\u0000')}`).join('\u0002');
    let kept = this.records.get(key);
    if (kept === undefined) {
      kept = Object.freeze(Object.fromEntries(entries.map(([k, v]) => [this.string(k), this.list(v)])));
      this.records.set(this.string(key), kept);
    }
    return kept as Record<string, string[]>;
  }

  /** An optional string, interned. */
  maybe(s: string | undefined): string | undefined {
    return s === undefined ? undefined : this.string(s);
  }
}
