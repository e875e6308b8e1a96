/** Sample windows of a VM's or host's load and their statistics (mean, p90, trend), per-instant sums of windows, rates from counters. */
import type { WindowedValue } from './model.js';

/**
 * A fixed-length window of samples with the smoothed values the policy reads. Its samples are one
 * array that a push replaces (never changes): the value handed out shares it as its series, so a
 * tick allocates one array per window, not a copy beside the window's own, and the window keeps
 * no array of its own between ticks (a collector keeps one window per VM, 300,000 at 10,000
 * hosts; issue 25). Callers must not mutate a series (it is typed readonly).
 */
export class SampleWindow {
  /** The samples, oldest first (at most `capacity`). */
  private samples: number[] = [];
  constructor(private readonly capacity: number) {}

  /** Adds a sample (a non-finite one is ignored), dropping the oldest when the window is full. */
  push(value: number): void {
    if (!Number.isFinite(value) || this.capacity <= 0) return;
    const old = this.samples;
    const n = old.length;
    let next: number[];
    if (n < this.capacity) next = [...old, value];
    else {
      // A copy of the same length shifted by one: slice() keeps the element kind (doubles unboxed).
      next = old.slice(n - this.capacity);
      next.copyWithin(0, 1);
      next[next.length - 1] = value;
    }
    this.samples = next;
  }

  /** The samples' statistics, with the samples (oldest first) as the series. */
  value(): WindowedValue {
    return windowedValueOf(this.samples);
  }
}

const ascending = (a: number, b: number) => a - b;

/** Nearest-rank 90th percentile of samples (0 for none): with few samples it is the highest one, so a single spike shows in p90 but not in mean. */
export function p90Of(samples: readonly number[]): number {
  const n = samples.length;
  if (n === 0) return 0;
  let sorted: number[];
  if (n <= 32) {
    // Insertion sort: a window's few samples (10 by default) sort faster so than through
    // Array.prototype.sort's comparator calls (this runs for every VM every tick: 300,000 at
    // 10,000 hosts). Same order: stable, ascending.
    sorted = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const v = samples[i];
      let j = i - 1;
      while (j >= 0 && sorted[j] > v) {
        sorted[j + 1] = sorted[j];
        j--;
      }
      sorted[j + 1] = v;
    }
  } else sorted = samples.slice().sort(ascending);
  return sorted[Math.min(n - 1, Math.ceil(0.9 * n) - 1)];
}

/** The statistics of samples (oldest first), with a copy of them as the series. */
export function windowedValue(samples: readonly number[]): WindowedValue {
  return windowedValueOf(samples.slice());
}

/** windowedValue of samples the result keeps as its series (not copied: no one may change them after). */
function windowedValueOf(samples: number[]): WindowedValue {
  if (samples.length === 0) return { last: 0, mean: 0, p90: 0, samples: 0 };
  const p90 = p90Of(samples);
  const n = samples.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += samples[i];
  const mean = total / n;
  if (n < 2) return { last: samples[n - 1], mean, p90, samples: n, series: samples };
  // Least-squares slope against the sample index (x centred on (n-1)/2): the trend a local
  // regression forecast extends (Beloglazov & Buyya's LR policy).
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const x = i - (n - 1) / 2;
    sxy += x * (samples[i] - mean);
    sxx += x * x;
  }
  // Built whole, with every field in the literal: one object per VM per tick, and no property
  // added afterwards (that allocated a second, out-of-object property store).
  return { last: samples[n - 1], mean, p90, samples: n, series: samples, slopePerSample: sxy / sxx };
}

/** One window in a per-instant sum, scaled (a VM's CPU ratio x its vCPUs / the host's CPUs). */
export interface WeightedWindow {
  window: WindowedValue;
  weight: number;
}

/**
 * The per-instant sum of several windows, oldest first, `length` instants long (aligned at the
 * newest sample: every window is sampled at the same ticks). An instant a window has no sample
 * for (a VM observed for fewer ticks) counts at that window's mean. A window with no series (only
 * its summary known) counts at its mean everywhere. This is what a host's window statistics come
 * from when they are built from its VMs: its p90 is the p90 of this sum, never the sum of the
 * VMs' p90s, which is too high whenever the VMs do not peak together.
 */
export function sumWindows(parts: readonly WeightedWindow[], length: number): number[] {
  const out = new Array<number>(Math.max(0, length)).fill(0);
  for (const { window: w, weight } of parts) {
    if (weight === 0) continue;
    const series = w.series ?? [];
    for (let k = 0; k < out.length; k++) {
      // k counts back from the newest instant.
      const i = series.length - 1 - k;
      out[out.length - 1 - k] += (i >= 0 ? series[i] : w.mean) * weight;
    }
  }
  return out;
}

/**
 * A window built from the per-instant sum of several (sumWindows), as long as the longest of
 * them (at most `maxSamples`), each instant capped at `cap`; an empty list gives `emptySamples`
 * samples of 0. `samples` is the shortest part's count, as before: a host's trend needs every VM
 * observed over it.
 */
export function summedWindow(parts: readonly WeightedWindow[], maxSamples: number, options: { cap?: number; emptySamples?: number } = {}): WindowedValue {
  if (parts.length === 0) {
    const n = options.emptySamples ?? 0;
    return { ...windowedValue(new Array<number>(n).fill(0)), samples: n };
  }
  const length = Math.min(maxSamples, Math.max(...parts.map((p) => p.window.series?.length ?? p.window.samples), 1));
  const cap = options.cap ?? Infinity;
  const sum = sumWindows(parts, length).map((v) => Math.min(cap, v));
  return { ...windowedValue(sum), samples: Math.min(length, ...parts.map((p) => p.window.samples)) };
}

/**
 * p90 of a host's window with one VM's window added per instant (`sign` -1: taken out), both as
 * ratios of the host (the VM's already scaled by `weight`). Exact when both carry their series;
 * otherwise the sound bound p90(H + V) <= p90(H) + max(V) (a quantile is monotone), with max(V)
 * the VM's p90 when only that is known (nearest-rank p90 of under ten samples is the maximum).
 */
export function p90WithWindow(host: { series?: readonly number[]; p90: number }, vm: WeightedWindow, sign: 1 | -1 = 1): number {
  const vs = vm.window.series;
  if (host.series && host.series.length > 0 && vs) {
    const added = sumWindows([{ window: vm.window, weight: vm.weight * sign }], host.series.length);
    return p90Of(host.series.map((h, i) => h + added[i]));
  }
  const peak = (vs && vs.length > 0 ? Math.max(...vs) : Math.max(vm.window.p90, vm.window.mean)) * vm.weight;
  const low = (vs && vs.length > 0 ? Math.min(...vs) : vm.window.mean) * vm.weight;
  return sign === 1 ? host.p90 + peak : host.p90 - low;
}

/**
 * A nanosecond counter as a number when a number holds it exactly (below 2^53 ns, 104 days),
 * else as the bigint read. Kept per VM between ticks: a number is written into the field that
 * holds it, where a bigint is a new object each tick that outlives the tick (issue 25).
 */
export function counterValue(ns: bigint): number | bigint {
  return ns <= MAX_EXACT ? Number(ns) : ns;
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Share of capacity used between two counter readings: (counter delta) / (wall delta × capacity).
 * Counters in ns, as bigints or exact numbers (counterValue; the delta is exact either way).
 * Undefined when there is no earlier reading, the counter went backwards (reset, VM restarted) or
 * no time passed; clamped to 0..1.
 */
export function rateRatio(
  previous: { counterNs: bigint | number; atMs: number } | undefined,
  current: { counterNs: bigint | number; atMs: number },
  capacity: number,
): number | undefined {
  if (!previous || capacity <= 0) return undefined;
  const wallNs = (current.atMs - previous.atMs) * 1e6;
  if (wallNs <= 0) return undefined;
  const before = previous.counterNs;
  const now = current.counterNs;
  // Two exact numbers: their difference is exact too (both below 2^53).
  const delta = typeof before === 'number' && typeof now === 'number' ? now - before : Number(BigInt(now) - BigInt(before));
  if (delta < 0) return undefined;
  return Math.min(1, Math.max(0, delta / (wallNs * capacity)));
}
