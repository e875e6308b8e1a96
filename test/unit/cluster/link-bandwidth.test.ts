import { describe, expect, it } from 'vitest';
import { LinkBandwidth } from '../../../src/cluster/link-bandwidth.js';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { LearnedFromMigrations } from '../../../src/history/learned.js';
import { plan } from '../../../src/policy/engine.js';
import { host, state, vm } from '../policy/fixtures.js';

const MiB = 2 ** 20;

describe('measured link bandwidth', () => {
  it('is the median of the last five completed migrations per direction, ignoring moves too small to tell', () => {
    const links = new LinkBandwidth();
    for (const mibps of [10, 100, 20, 30, 40, 50]) links.observe({ from: 'a', to: 'b', bytes: 300 * MiB, seconds: 300 / mibps });
    // The first (10) fell out; median of 100, 20, 30, 40, 50.
    expect(links.estimateMiBps('a', 'b')).toBeCloseTo(40);
    expect(links.estimateMiBps('b', 'a')).toBeUndefined();
    links.observe({ from: 'b', to: 'a', bytes: 4 * MiB, seconds: 0.01 });
    expect(links.estimateMiBps('b', 'a')).toBeUndefined();
    links.observe({ from: 'b', to: 'a', bytes: 200 * MiB, seconds: 2 });
    links.observe({ from: 'b', to: 'a', bytes: 200 * MiB, seconds: 4 });
    expect(links.estimateMiBps('b', 'a')).toBeCloseTo(75);
    expect(
      links
        .links()
        .map((l) => `${l.from}->${l.to}:${l.samples}`)
        .sort(),
    ).toEqual(['a->b:5', 'b->a:2']);
  });

  it('steers the technique: a VM dirtying 30 MiB/s is pre-copied over an assumed 1000 MiB/s link, not over a measured 20 MiB/s one', async () => {
    const config = policySchema.parse({ cooldownSeconds: 0, maxMovesPerTick: 1, moveCostWeight: 0 });
    // Host a at 100 % of 4 CPUs; only hot1 may move.
    const pinned = { tags: ['pinned'] };
    const s = state(
      [host('a'), host('b')],
      [vm('hot1', 'a', 1, { dirtyRateMiBps: 30, memoryBytes: 2048 * MiB }), vm('hot2', 'a', 1, pinned), vm('hot3', 'a', 1, pinned), vm('hot4', 'a', 1, pinned)],
    );
    const assumed = await plan(s, { config });
    const links = new LinkBandwidth([{ from: 'a', to: 'b', bytes: 2000 * MiB, seconds: 100 }]);
    const measured = await plan(s, { config, linkBandwidthMiBps: links.estimateMiBps });
    const moveOf = (p: typeof assumed) => p.moves.find((m) => m.vmName === 'hot1') ?? p.skipped.find((x) => x.vmName === 'hot1');
    expect(assumed.moves[0], JSON.stringify(assumed.skipped)).toMatchObject({
      vmName: 'hot1',
      technique: 'precopy',
      inputs: { bandwidthMiBps: 1000, bandwidthMeasured: false },
    });
    const withMeasured = measured.moves.find((m) => m.vmName === 'hot1');
    expect(withMeasured, JSON.stringify(moveOf(measured))).toBeDefined();
    expect(withMeasured!.inputs).toMatchObject({ bandwidthMiBps: 20, bandwidthMeasured: true });
    expect(withMeasured!.technique).not.toBe('precopy');
    expect(withMeasured!.predicted.totalSeconds).toBeGreaterThan(assumed.moves[0].predicted.totalSeconds * 10);
  });

  it('plans a pair never measured with the median of the pairs measured (issue 31: 1000 MiB/s assumed where the lab measures 60-85), and with nothing before any move', () => {
    const links = new LinkBandwidth([
      { from: 'a', to: 'b', bytes: 600 * MiB, seconds: 10 },
      { from: 'b', to: 'a', bytes: 700 * MiB, seconds: 10 },
      { from: 'a', to: 'c', bytes: 850 * MiB, seconds: 10 },
    ]);
    expect(links.clusterMiBps()).toBeCloseTo(70, 6);
    expect(links.estimateOrClusterMiBps('a', 'b')).toBeCloseTo(60, 6);
    expect(links.estimateOrClusterMiBps('c', 'b')).toBeCloseTo(70, 6);
    expect(new LinkBandwidth().estimateOrClusterMiBps('a', 'b')).toBeUndefined();
    // What planning is handed after one completed move in the journal's shape.
    const learned = new LearnedFromMigrations();
    learned.observe({
      outcome: 'completed',
      from: 'a',
      to: 'b',
      bytes: 650 * MiB,
      totalMs: 10_000,
      technique: 'precopy',
      predicted: { totalSeconds: 1, downtimeMs: 10, bytes: 0, converges: true },
    } as Parameters<LearnedFromMigrations['observe']>[0]);
    expect(learned.planOptions(migrationSchema.parse({})).linkBandwidthMiBps('c', 'a')).toBeCloseTo(65, 6);
  });
});
