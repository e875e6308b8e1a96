import { describe, expect, it } from 'vitest';
import { deadlineSecondsFor } from '../../../src/executor/migrate.js';

describe('migration deadline', () => {
  const prediction = { totalSeconds: 1234.2, downtimeMs: 100, bytes: 1, converges: true };
  it('grows with the predicted time of a memory-only move (a 20-minute prediction is not cut at 5)', () => {
    expect(deadlineSecondsFor({ copyStorage: false, predicted: prediction }, { deadlineSeconds: 300 })).toBe(300 + 1235);
  });
  it('adds the predicted time of a move that copies storage', () => {
    expect(deadlineSecondsFor({ copyStorage: true, predicted: prediction }, { deadlineSeconds: 300 })).toBe(300 + 1235);
  });
  it('is the configured slack alone when the prediction does not converge', () => {
    expect(deadlineSecondsFor({ copyStorage: false, predicted: { ...prediction, converges: false } }, { deadlineSeconds: 300 })).toBe(300);
  });
});
