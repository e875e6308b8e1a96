import { describe, expect, it } from 'vitest';
import { deadlineSecondsFor } from '../../../src/executor/migrate.js';

describe('migration deadline', () => {
  const prediction = { totalSeconds: 1234.2, downtimeMs: 100, bytes: 1, converges: true };
  it('is the configured deadline for a memory-only move', () => {
    expect(deadlineSecondsFor({ copyStorage: false, predicted: prediction }, { deadlineSeconds: 300 })).toBe(300);
  });
  it('adds the predicted time of a move that copies storage', () => {
    expect(deadlineSecondsFor({ copyStorage: true, predicted: prediction }, { deadlineSeconds: 300 })).toBe(300 + 1235);
  });
});
