/** SharedValues (src/cluster/shared-values.ts): equal VM definition parts kept once, frozen, flat, bounded. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SharedValues } from '../../../src/cluster/shared-values.js';

describe('shared values', () => {
  it('gives one frozen copy for equal values, equal to what it was given, and another for different ones', () => {
    const shared = new SharedValues();
    const a = shared.of({ mode: 'custom', model: 'Haswell', requiredFeatures: ['vmx', 'ss'], disabledFeatures: [] as string[] });
    const b = shared.of({ mode: 'custom', model: 'Haswell', requiredFeatures: ['vmx', 'ss'], disabledFeatures: [] as string[] });
    expect(b).toBe(a);
    expect(a).toEqual({ mode: 'custom', model: 'Haswell', requiredFeatures: ['vmx', 'ss'], disabledFeatures: [] });
    expect(Object.isFrozen(a) && Object.isFrozen(a.requiredFeatures)).toBe(true);
    expect(() => a.requiredFeatures.push('x')).toThrow(TypeError);
    expect(shared.of({ mode: 'custom', model: 'Haswell', requiredFeatures: ['ss', 'vmx'], disabledFeatures: [] as string[] })).not.toBe(a);
    // A key set to undefined is kept as such, and is not the same value as a missing key.
    const withUndefined = shared.of({ pinnedHostCpus: undefined as number[] | undefined });
    expect('pinnedHostCpus' in withUndefined).toBe(true);
    expect(shared.of({})).not.toBe(withUndefined);
    expect(shared.of(['vda'])).toBe(shared.of(['vda']));
    expect(shared.of(undefined)).toBeUndefined();
    expect(shared.of([Number.NaN])).not.toBe(shared.of([null]));
  });

  it('is equal to its input for any JSON-like value', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(undefined), fc.constant(null)),
      node: fc.oneof(
        { depthSize: 'small' },
        tie('leaf'),
        fc.array(tie('node'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('node'), { maxKeys: 4, noNullPrototype: true }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const shared = new SharedValues();
        expect(shared.of(v)).toStrictEqual(v);
        expect(shared.of(structuredClone(v))).toBe(shared.of(v));
      }),
    );
  });

  it('starts again empty past its bound: earlier values stay as they were', () => {
    const shared = new SharedValues(2);
    const first = shared.of(['a']);
    shared.of(['b']);
    expect(shared.size).toBe(2);
    shared.of(['c']);
    expect(shared.size).toBe(1);
    expect(first).toEqual(['a']);
    expect(shared.of(['a'])).not.toBe(first);
  });
});
