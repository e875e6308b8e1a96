import type { MigrationResult } from '../../../src/executor/index.js';
import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { LearnedFromMigrations } from '../../../src/history/learned.js';
import type { JournalEntry } from '../../../src/history/journal.js';
import { DEFAULT_TUNABLES, predictTechnique, tunablesFromMigrationConfig } from '../../../src/policy/chooser.js';

const GiB = 2 ** 30;

describe('the cost model under migration TLS', () => {
  const input = { memoryBytes: 4 * GiB, dirtyRateMiBps: 0, downtimeBudgetMs: 300 };
  it('scales a CPU-bound stream by the measured factor (0.65) and leaves a link-bound one alone', () => {
    expect(DEFAULT_TUNABLES.tlsThroughputFactor).toBe(0.65);
    const fast = (tls: boolean) => predictTechnique('precopy', { ...input, bandwidthMiBps: 10_000, tunables: { tls } }).totalSeconds;
    // 4096 MiB over the 1200 MiB/s stream ceiling, then over 0.65 of it (plus the set-up and switch-over each).
    const fixed = DEFAULT_TUNABLES.setupSeconds + DEFAULT_TUNABLES.switchoverMs / 1000;
    expect(fast(false)).toBeCloseTo(4096 / 1200 + fixed, 2);
    expect(fast(true)).toBeCloseTo(4096 / (1200 * 0.65) + fixed, 2);
    const slow = (tls: boolean) => predictTechnique('precopy', { ...input, bandwidthMiBps: 100, tunables: { tls } }).totalSeconds;
    expect(slow(true)).toBeCloseTo(slow(false), 6);
  });
  it('plans preferred and required as encrypted, off as plaintext', () => {
    for (const [tls, expected] of [
      ['off', false],
      ['preferred', true],
      ['required', true],
    ] as const) {
      expect(tunablesFromMigrationConfig(migrationSchema.parse({ tls })).tls).toBe(expected);
    }
  });
  it('plans a TLS move with what the pair achieved under TLS, else with what it achieved at all', () => {
    const outcome = (from: string, to: string, mibps: number, tls: boolean): JournalEntry => ({
      type: 'outcome',
      atMs: 0,
      vm: 'v',
      vmUuid: 'u',
      from,
      to,
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 10_000,
      bytes: mibps * 10 * 2 ** 20,
      tls,
    });
    const learned = new LearnedFromMigrations([outcome('a', 'b', 100, false), outcome('a', 'b', 60, true), outcome('a', 'c', 90, false)]);
    const tlsOn = learned.planOptions(migrationSchema.parse({ tls: 'required' })).linkBandwidthMiBps;
    const tlsOff = learned.planOptions(migrationSchema.parse({ tls: 'off' })).linkBandwidthMiBps;
    expect(tlsOn('a', 'b')).toBeCloseTo(60, 6);
    expect(tlsOn('a', 'c')).toBeCloseTo(90, 6);
    expect(tlsOff('a', 'b')).toBeCloseTo(80, 6);
    const result: MigrationResult = {
      vm: 'v',
      vmUuid: 'u',
      from: 'a',
      to: 'c',
      technique: 'precopy',
      outcome: 'completed',
      totalMs: 10_000,
      bytes: 500 * 2 ** 20,
      switchedToPostcopy: false,
      predicted: { totalSeconds: 1, downtimeMs: 1, bytes: 1, converges: true },
      startedAtMs: 0,
      endedAtMs: 1,
      tls: true,
    };
    learned.observe(result);
    expect(tlsOn('a', 'c')).toBeCloseTo(50, 6);
  });
});
