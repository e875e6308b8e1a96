import { describe, expect, it } from 'vitest';
import { chooseTechnique, predictTechnique } from '../../../src/policy/chooser.js';

const MiB = 2 ** 20;

describe('technique chooser', () => {
  it('predicts pre-copy rounds as the geometric series of the design guide', () => {
    // M = 1000 MiB, B = 100 MiB/s, D = 50 MiB/s (r = 0.5), budget 300 ms.
    const p = predictTechnique('precopy', { memoryBytes: 1000 * MiB, dirtyRateMiBps: 50, bandwidthMiBps: 100, downtimeBudgetMs: 300 });
    // Rounds: 10 s, 5, 2.5, 1.25, 0.625, 0.3125 (> 0.25 s: the budget less the 50 ms switch-over, so
    // one more), then 0.156 s of stop-and-copy plus the switch-over.
    expect(p.converges).toBe(true);
    expect(p.downtimeMs).toBeCloseTo(156.25 + 50, 1);
    expect(p.totalSeconds).toBeCloseTo(10 + 5 + 2.5 + 1.25 + 0.625 + 0.3125 + 0.15625 + 0.05, 3);
    expect(p.bytes / MiB).toBeCloseTo(1000 + 500 + 250 + 125 + 62.5 + 31.25 + 15.625, 1);
  });

  it('goes one more pre-copy round when the stop-and-copy plus the switch-over would overrun the budget', () => {
    // M = 100 MiB, B = 100 MiB/s, D = 25.5 MiB/s: round 1 (1 s) leaves 25.5 MiB = 255 ms, which with
    // the 50 ms switch-over is 305 ms > 300. QEMU keeps iterating: round 2 (0.255 s) leaves 6.5 MiB.
    const input = { memoryBytes: 100 * MiB, dirtyRateMiBps: 25.5, bandwidthMiBps: 100, downtimeBudgetMs: 300 };
    const p = predictTechnique('precopy', input);
    expect(p.converges).toBe(true);
    expect(p.iterations).toBe(3);
    expect(p.downtimeMs).toBeCloseTo(25.5 * 0.255 * 10 + 50, 1);
    expect(p.totalSeconds).toBeCloseTo(1 + 0.255 + 0.065025 + 0.05, 4);
    // Within the budget and the cheapest, so the simplest technique is the choice.
    const c = chooseTechnique(input);
    expect(c.technique).toBe('precopy');
    expect(c.predicted.downtimeMs).toBeLessThanOrEqual(300);
  });

  it('never picks plain pre-copy when the dirty rate is at or above the bandwidth', () => {
    for (const dirty of [100, 150]) {
      const c = chooseTechnique({ memoryBytes: 1000 * MiB, dirtyRateMiBps: dirty, bandwidthMiBps: 100, downtimeBudgetMs: 300 });
      expect(c.technique).not.toBe('precopy');
      expect(c.alternatives.find((a) => a.technique === 'precopy')!.converges).toBe(false);
      expect(c.predicted.converges).toBe(true);
    }
  });

  it('picks pre-copy for an idle VM and keeps every choice within the downtime budget', () => {
    expect(chooseTechnique({ memoryBytes: 512 * MiB, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300 }).technique).toBe('precopy');
    for (const dirty of [0, 10, 40, 70, 90, 120]) {
      const c = chooseTechnique({ memoryBytes: 2048 * MiB, dirtyRateMiBps: dirty, bandwidthMiBps: 100, downtimeBudgetMs: 300 });
      expect(c.predicted.downtimeMs).toBeLessThanOrEqual(300);
    }
  });

  it('reports not converging when only pre-copy is allowed and it cannot converge', () => {
    const c = chooseTechnique({ memoryBytes: 1000 * MiB, dirtyRateMiBps: 200, bandwidthMiBps: 100, downtimeBudgetMs: 300, allowed: ['precopy'] });
    expect(c.predicted.converges).toBe(false);
    expect(c.alternatives[0].rejected).toMatch(/does not converge/);
  });

  it("moves a shut-off VM cold unless it has local disks (offline migration does not copy them); adds storage copy to a live move's time and bytes", () => {
    const off = chooseTechnique({ memoryBytes: 1000 * MiB, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300, running: false });
    expect(off.technique).toBe('cold');
    expect(off.predicted.converges).toBe(true);
    const offWithDisks = chooseTechnique({
      memoryBytes: 1000 * MiB,
      dirtyRateMiBps: 0,
      bandwidthMiBps: 100,
      downtimeBudgetMs: 300,
      running: false,
      localDiskBytes: 500 * MiB,
    });
    expect(offWithDisks.predicted.converges).toBe(false);
    expect(offWithDisks.alternatives.find((a) => a.technique === 'cold')?.rejected).toMatch(/offline migration does not copy them/);
    const withDisk = predictTechnique('precopy', {
      memoryBytes: 100 * MiB,
      dirtyRateMiBps: 0,
      bandwidthMiBps: 100,
      downtimeBudgetMs: 300,
      localDiskBytes: 1000 * MiB,
    });
    const without = predictTechnique('precopy', { memoryBytes: 100 * MiB, dirtyRateMiBps: 0, bandwidthMiBps: 100, downtimeBudgetMs: 300 });
    expect(withDisk.totalSeconds - without.totalSeconds).toBeCloseTo(10, 5);
  });

  it('predicts lab migrations it was calibrated against within a factor of 1.5 in time and 20 % in bytes', () => {
    // Completed-job stats of real lab migrations (test/lab/lab-techniques.test.ts, docs/lab.md):
    // 256 MiB TCG guest, 130 MiB touched, workload dirtying 8 MiB/s, no bandwidth limit (about
    // 250 MiB/s on loopback here).
    const real = [
      { technique: 'precopy', totalMs: [535, 663, 695], mib: [130, 133.6, 131.5] },
      { technique: 'xbzrle', totalMs: [465, 724, 661], mib: [128.9, 133.7, 130.2] },
      { technique: 'multifd', totalMs: [546, 613, 557], mib: [129.1, 129.2, 129.3] },
      { technique: 'autoconverge', totalMs: [595, 600, 531], mib: [128.8, 128.8, 128.9] },
    ] as const;
    for (const r of real) {
      const p = predictTechnique(r.technique, { memoryBytes: 130 * MiB, dirtyRateMiBps: 8, bandwidthMiBps: 250, downtimeBudgetMs: 300 });
      for (const ms of r.totalMs) {
        expect(p.totalSeconds * 1000, r.technique).toBeGreaterThan(ms / 1.5);
        expect(p.totalSeconds * 1000, r.technique).toBeLessThan(ms * 1.5);
      }
      for (const mib of r.mib) expect(Math.abs(p.bytes / MiB - mib) / mib, r.technique).toBeLessThan(0.2);
    }
  });
});
