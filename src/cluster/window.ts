/** A fixed-length window of samples with the smoothed values the policy reads. */
import type { WindowedValue } from './model.js';

export class SampleWindow {
  private readonly samples: number[] = [];
  constructor(private readonly capacity: number) {}

  push(value: number): void {
    if (!Number.isFinite(value)) return;
    this.samples.push(value);
    if (this.samples.length > this.capacity) this.samples.shift();
  }

  value(): WindowedValue {
    return windowedValue(this.samples);
  }
}

export function windowedValue(samples: readonly number[]): WindowedValue {
  if (samples.length === 0) return { last: 0, mean: 0, p90: 0, samples: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  // Nearest-rank percentile: with few samples it is the highest one, so a single spike shows in p90 but not in mean.
  const p90 = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)];
  const n = samples.length;
  const mean = samples.reduce((a, b) => a + b, 0) / n;
  // Least-squares slope against the sample index (x centred on (n-1)/2): the trend a local
  // regression forecast extends (Beloglazov & Buyya's LR policy).
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const x = i - (n - 1) / 2;
    sxy += x * (samples[i] - mean);
    sxx += x * x;
  }
  return { last: samples[n - 1], mean, p90, samples: n, ...(n >= 2 ? { slopePerSample: sxy / sxx } : {}) };
}

/**
 * Share of capacity used between two counter readings: (counter delta) / (wall delta × capacity).
 * Undefined when there is no earlier reading, the counter went backwards (reset, VM restarted) or
 * no time passed; clamped to 0..1.
 */
export function rateRatio(
  previous: { counterNs: bigint; atMs: number } | undefined,
  current: { counterNs: bigint; atMs: number },
  capacity: number,
): number | undefined {
  if (!previous || capacity <= 0) return undefined;
  const wallNs = (current.atMs - previous.atMs) * 1e6;
  if (wallNs <= 0) return undefined;
  const delta = current.counterNs - previous.counterNs;
  if (delta < 0n) return undefined;
  return Math.min(1, Math.max(0, Number(delta) / (wallNs * capacity)));
}
