import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dedupeMigrating, parseCapabilitiesCpu, parseTags } from '../../../src/cluster/collector.js';
import { clusterImbalance, hostMemoryRatio, memoryImbalance } from '../../../src/cluster/imbalance.js';
import { counterValue, p90Of, rateRatio, SampleWindow, windowedValue } from '../../../src/cluster/window.js';
import type { WindowedValue } from '../../../src/cluster/model.js';
import { host, vm, win } from '../policy/fixtures.js';

describe('rates from counters', () => {
  it('is a share of capacity between two readings', () => {
    // 1.5 s of CPU in 1 s on 2 vCPUs = 75 %.
    expect(rateRatio({ counterNs: 1_000_000_000n, atMs: 1000 }, { counterNs: 2_500_000_000n, atMs: 2000 }, 2)).toBeCloseTo(0.75);
  });
  it('gives nothing for a first sample, a counter reset or no elapsed time, and clamps', () => {
    expect(rateRatio(undefined, { counterNs: 5n, atMs: 1 }, 1)).toBeUndefined();
    expect(rateRatio({ counterNs: 9_000_000_000n, atMs: 0 }, { counterNs: 1_000n, atMs: 1000 }, 1)).toBeUndefined();
    expect(rateRatio({ counterNs: 0n, atMs: 1000 }, { counterNs: 10n, atMs: 1000 }, 1)).toBeUndefined();
    expect(rateRatio({ counterNs: 0n, atMs: 0 }, { counterNs: 5_000_000_000n, atMs: 1000 }, 1)).toBe(1);
  });
  it('gives the same ratio from counters kept as numbers while exact (counterValue) as from bigints, across 2^53 too', () => {
    const counter = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 2n ** 53n - 10n ** 12n, max: 2n ** 53n + 10n ** 12n }));
    fc.assert(
      fc.property(counter, counter, fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 1, max: 64 }), (before, now, wallMs, vcpus) => {
        const exact = rateRatio({ counterNs: before, atMs: 1000 }, { counterNs: now, atMs: 1000 + wallMs }, vcpus);
        const kept = rateRatio({ counterNs: counterValue(before), atMs: 1000 }, { counterNs: counterValue(now), atMs: 1000 + wallMs }, vcpus);
        expect(kept).toBe(exact);
      }),
    );
    expect(counterValue(2n ** 53n - 1n)).toBe(2 ** 53 - 1);
    expect(counterValue(2n ** 53n)).toBe(2n ** 53n);
  });
});

describe('sampling window', () => {
  it('keeps the last N samples with mean and p90, so one spike moves p90 but barely the mean', () => {
    const w = new SampleWindow(10);
    for (let i = 0; i < 12; i++) w.push(i === 11 ? 1 : 0.2);
    const v = w.value();
    expect(v.samples).toBe(10);
    expect(v.last).toBe(1);
    expect(v.mean).toBeCloseTo(0.28);
    expect(v.p90).toBeCloseTo(0.2);
    w.push(Number.NaN);
    expect(w.value().samples).toBe(10);
    expect(windowedValue([])).toEqual({ last: 0, mean: 0, p90: 0, samples: 0 });
  });
  it('gives what the last N samples in order give, and a value handed out keeps its samples after later pushes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.array(fc.oneof(fc.double({ min: 0, max: 1.5 }), fc.constant(Number.NaN)), { maxLength: 40 }),
        (capacity, pushes) => {
          const w = new SampleWindow(capacity);
          const kept: number[] = [];
          const handedOut: { value: WindowedValue; expected: WindowedValue }[] = [];
          for (const x of pushes) {
            w.push(x);
            if (Number.isFinite(x)) kept.push(x);
            const expected = windowedValue(kept.slice(Math.max(0, kept.length - capacity)));
            const value = w.value();
            expect(value).toEqual(expected);
            handedOut.push({ value, expected });
          }
          for (const { value, expected } of handedOut) expect(value).toEqual(expected);
        },
      ),
    );
    const w = new SampleWindow(3);
    for (const x of [1, 2, 3]) w.push(x);
    const before = w.value();
    w.push(4);
    expect(before.series).toEqual([1, 2, 3]);
    expect(w.value().series).toEqual([2, 3, 4]);
  });
});

describe('collector helpers', () => {
  it('counts a migrating VM once, where its job runs', () => {
    const source = vm('m', 'a', 0.5, { jobRunning: true });
    const incoming = vm('m', 'b', 0, { state: 'paused' });
    expect(dedupeMigrating([incoming, source])).toEqual([source]);
    expect(dedupeMigrating([vm('x', 'a', 0.1), vm('y', 'b', 0.1)])).toHaveLength(2);
  });
  it('keeps the running copy when both hosts report the migration job, in either order', () => {
    // The destination's incoming copy has a job too (the incoming migration).
    const source = vm('m', 'a', 0.5, { jobRunning: true });
    const incoming = vm('m', 'b', 0, { state: 'paused', jobRunning: true });
    expect(dedupeMigrating([incoming, source])).toEqual([source]);
    expect(dedupeMigrating([source, incoming])).toEqual([source]);
    // After a post-copy switch the destination runs the VM and the source is paused.
    const postcopyTarget = vm('m', 'b', 0.5, { jobRunning: true });
    const postcopySource = vm('m', 'a', 0, { state: 'paused', jobRunning: true });
    expect(dedupeMigrating([postcopySource, postcopyTarget])).toEqual([postcopyTarget]);
  });
  it('reads tags from our metadata element and the host CPU from capabilities', () => {
    expect(parseTags('<vb:tags xmlns:vb="https://virt-balancer.dev/xmlns/1">pinned group:web</vb:tags>')).toEqual(['pinned', 'group:web']);
    expect(parseTags('<tags/>')).toEqual([]);
    const caps =
      "<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model><feature name='ss'/><feature name='vmx'/></cpu></host><guest><cpu><model>no</model></cpu></guest></capabilities>";
    expect(parseCapabilitiesCpu(caps)).toEqual({ model: 'Skylake-Client-IBRS', features: ['ss', 'vmx'] });
  });
  it('measures imbalance over hosts that are up and not in maintenance', () => {
    const hosts = [
      host('a', { cpuUtilization: win(0.8) }),
      host('b', { cpuUtilization: win(0.2) }),
      host('c', { up: false, cpuUtilization: win(0) }),
      host('d', { maintenance: true, cpuUtilization: win(0) }),
    ];
    expect(clusterImbalance(hosts)).toBeCloseTo(0.3);
  });
  it('measures memory imbalance the same way (what the demo shows beside CPU, since spread moves act on memory too)', () => {
    const GiB = 2 ** 30;
    const hosts = [
      host('a', { memoryTotalBytes: 4 * GiB, memoryUsedBytes: 1.2 * GiB }),
      host('b', { memoryTotalBytes: 4 * GiB, memoryUsedBytes: 0 }),
      host('c', { memoryTotalBytes: 4 * GiB, memoryUsedBytes: 0 }),
      host('d', { up: false, memoryTotalBytes: 4 * GiB, memoryUsedBytes: 4 * GiB }),
    ];
    expect(hostMemoryRatio(hosts[0])).toBeCloseTo(0.3);
    expect(memoryImbalance(hosts)).toBeCloseTo(Math.sqrt((0.2 ** 2 + 0.1 ** 2 + 0.1 ** 2) / 3));
  });
});

describe('p90Of', () => {
  it('is the nearest-rank 90th percentile of any samples, short windows (insertion sort) and long ones alike', () => {
    const reference = (xs: number[]) => {
      if (xs.length === 0) return 0;
      const sorted = [...xs].sort((a, b) => a - b);
      return sorted[Math.ceil(0.9 * sorted.length) - 1];
    };
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 40 }), (xs) => {
        expect(p90Of(xs)).toBe(reference(xs));
      }),
      { numRuns: 500 },
    );
    expect(p90Of([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1])).toBe(0.9);
    expect(p90Of([3])).toBe(3);
  });
});
