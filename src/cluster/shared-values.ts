/**
 * Sharing of equal values that many VMs repeat: the parts of a VM's definition the collector keeps
 * for the VM's life (its guest CPU, pinning, the disks a copy moves, what blocks migrating it, its
 * tags). VMs made from one template have equal ones; each is then kept once, not once per VM.
 *
 * Why (issue 25): at 10,000 hosts x 30 VMs every full garbage collection marks every object the
 * collector keeps, and each VM's definition parts were ~15 objects of their own (an object, its
 * lists, their element stores, strings cut out of the domain XML), 4.5 million objects in all.
 * Shared, equal parts are one set of objects whatever the number of VMs.
 *
 * Values are deep-frozen (a caller changing one would change every VM's) and their strings are flat
 * copies (a string a regular expression cut out of an XML reply keeps the whole reply alive in V8).
 * The table is bounded: past `maxValues` distinct values it starts again empty (values handed out
 * stay valid; only later equal ones get a new copy), so VMs that come and go with distinct
 * definitions over months do not grow it without end.
 */

/** Distinct values kept at most before the table starts again (a few MB of keys). */
export const SHARED_VALUES_MAX = 65_536;

export class SharedValues {
  private readonly kept = new Map<string, unknown>();

  /** `maxValues`: distinct values kept at most (SHARED_VALUES_MAX). */
  constructor(private readonly maxValues = SHARED_VALUES_MAX) {}

  /** Distinct values kept now. */
  get size(): number {
    return this.kept.size;
  }

  /**
   * The shared copy equal to `value`, a JSON-like value (strings, numbers, booleans, undefined,
   * null, and arrays and plain objects of them; equal: same keys in the same order, same values; a key set
   * to undefined is not the same as a missing key): deep-frozen, its strings flat. Callers must not
   * mutate it (frozen: strict-mode code that tries throws).
   */
  of<T>(value: T): T {
    if (value === undefined || value === null || typeof value !== 'object') return value;
    const key = JSON.stringify(value, keyPart);
    const found = this.kept.get(key);
    if (found !== undefined) return found as T;
    if (this.kept.size >= this.maxValues) this.kept.clear();
    const copy = frozenCopy(value) as T;
    this.kept.set(key, copy);
    return copy;
  }
}

/**
 * A value's part of its key: JSON's, except that undefined (which JSON drops: `{a: undefined}`
 * is not `{}` here) and NaN and the infinities (which JSON writes as null) are told apart.
 */
function keyPart(_: string, v: unknown): unknown {
  if (v === undefined) return '\u0000undefined';
  if (typeof v === 'number' && !Number.isFinite(v)) return `\u0000${v}`;
  return v;
}

/** A flat copy of a string (not a slice keeping a larger string alive). */
function flat(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

function frozenCopy(value: unknown): unknown {
  if (typeof value === 'string') return flat(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy));
  return Object.freeze(Object.fromEntries(Object.entries(value).map(([k, v]) => [flat(k), frozenCopy(v)])));
}
