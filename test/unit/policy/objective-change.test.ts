import { describe, expect, it } from 'vitest';
import { objectiveChange } from '../../../src/policy/move-cost.js';

describe('a move gain in words (skip reasons)', () => {
  it('says reduces, would not reduce, or raises; never "reduces by" a negative number', () => {
    expect(objectiveChange(0.0313)).toBe('reduces the objective by 0.0313');
    expect(objectiveChange(-0.00001)).toBe('would not reduce the objective (0.0000)');
    expect(objectiveChange(0)).toBe('would not reduce the objective (0.0000)');
    expect(objectiveChange(-0.012)).toBe('raises the objective by 0.0120');
  });
});
