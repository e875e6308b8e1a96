/**
 * The cap governor (src/executor/cap-governor.ts): feedback on the job's figures that holds the
 * operator's cap over a whole move when post-copy's urgent pages go outside QEMU's limit.
 *
 * The simulated link below behaves as QEMU 10.0 with postcopy-preempt does: background pages at
 * the post-copy limit in force, plus urgent pages at a rate the limit does not touch.
 */
import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { Adapter } from '../../../src/executor/adapt.js';
import { CapGovernor, MIN_POSTCOPY_LIMIT_MIBPS } from '../../../src/executor/cap-governor.js';
import { recipeFor } from '../../../src/executor/technique-params.js';
import { MigrateMaxSpeedFlags, type LibvirtConnection } from '../../../src/libvirt/index.js';
import { silentLogger } from '../../../src/log/logger.js';

const MiB = 2 ** 20;

/**
 * Run a post-copy of `memoryMiB` (after `precopySeconds` of pre-copy at the cap) with urgent pages
 * at `urgentMiBps` outside the limit, sampled every `pollMs`; the governor's limits apply from the
 * next interval. Returns bytes / (time × cap) over the whole move and the post-copy phase's seconds.
 */
function simulate(o: { capMiBps: number; urgentMiBps: (t: number) => number; memoryMiB: number; precopySeconds?: number; pollMs?: number; governed: boolean }) {
  const pollMs = o.pollMs ?? 500;
  const dt = pollMs / 1000;
  const governor = new CapGovernor({ capMiBps: o.capMiBps, initialLimitMiBps: o.capMiBps, budgetFrom: 'start' });
  let t = o.precopySeconds ?? 0;
  let sentMiB = o.capMiBps * t;
  let remainingMiB = o.memoryMiB;
  let limit = o.capMiBps;
  const limits: number[] = [];
  while (remainingMiB > 0) {
    const step = Math.min(remainingMiB, (limit + o.urgentMiBps(t)) * dt);
    sentMiB += step;
    remainingMiB -= step;
    t += dt;
    if (!o.governed) continue;
    const decision = governor.observe({ elapsedMs: t * 1000, bytes: sentMiB * MiB });
    if (decision.setLimitMiBps !== undefined) limit = decision.setLimitMiBps;
    limits.push(limit);
  }
  return { ratio: sentMiB / (t * o.capMiBps), postcopySeconds: t - (o.precopySeconds ?? 0), limits };
}

describe('the cap governor holds bytes / (time x cap) <= 1.1 over the whole move', () => {
  it('a pure post-copy with urgent pages outside the limit: over the cap without it, under with it', () => {
    // The lab's case: 16 MiB/s cap, ~10 MiB/s of urgent pages (26.7 MiB/s seen over the move).
    const urgent = () => 10;
    const ungoverned = simulate({ capMiBps: 16, urgentMiBps: urgent, memoryMiB: 256, governed: false });
    expect(ungoverned.ratio).toBeGreaterThan(1.5);
    const governed = simulate({ capMiBps: 16, urgentMiBps: urgent, memoryMiB: 256, governed: true });
    expect(governed.ratio).toBeLessThanOrEqual(1.1);
    // The cost: the post-copy phase runs at about the cap instead of cap + urgent.
    expect(governed.postcopySeconds).toBeGreaterThan(ungoverned.postcopySeconds);
    expect(governed.postcopySeconds).toBeLessThanOrEqual((256 / 16) * 1.1);
  });

  it('a burst of urgent pages above the cap at the start is repaid later in the move', () => {
    const burst = (t: number) => (t < 2 ? 40 : 4);
    const governed = simulate({ capMiBps: 16, urgentMiBps: burst, memoryMiB: 256, governed: true });
    expect(governed.ratio).toBeLessThanOrEqual(1.1);
    expect(Math.min(...governed.limits)).toBe(MIN_POSTCOPY_LIMIT_MIBPS);
  });

  it('hybrid: pre-copy at the cap, then post-copy; the budget is the whole move', () => {
    const governed = simulate({ capMiBps: 48, urgentMiBps: () => 14, memoryMiB: 200, precopySeconds: 10, governed: true });
    expect(governed.ratio).toBeLessThanOrEqual(1.1);
  });

  it('no urgent pages: the limit stays at the cap and nothing is set', () => {
    const governor = new CapGovernor({ capMiBps: 16, initialLimitMiBps: 16, budgetFrom: 'start' });
    const decisions = [1, 2, 3, 4].map((s) => governor.observe({ elapsedMs: s * 1000, bytes: 15 * s * MiB }));
    expect(decisions.map((d) => d.setLimitMiBps)).toEqual([undefined, undefined, undefined, undefined]);
    expect(decisions.at(-1)!.limitMiBps).toBe(16);
  });

  it('never sets 0 (QEMU reads 0 as unlimited), never above the cap', () => {
    const governor = new CapGovernor({ capMiBps: 8, initialLimitMiBps: 8, budgetFrom: 'start' });
    governor.observe({ elapsedMs: 1000, bytes: 100 * MiB });
    const over = governor.observe({ elapsedMs: 2000, bytes: 200 * MiB });
    expect(over.limitMiBps).toBe(MIN_POSTCOPY_LIMIT_MIBPS);
    const under = new CapGovernor({ capMiBps: 8, initialLimitMiBps: 8, budgetFrom: 'start' });
    under.observe({ elapsedMs: 10_000, bytes: 0 });
    expect(under.observe({ elapsedMs: 11_000, bytes: MiB }).limitMiBps).toBe(8);
  });

  it('budget from the switch: bytes of an uncapped pre-copy are not charged to the post-copy phase', () => {
    const governor = new CapGovernor({ capMiBps: 16, initialLimitMiBps: 16, budgetFrom: 'switch' });
    // 10 s of pre-copy at 100 MiB/s, then post-copy at 16 MiB/s: within the budget.
    governor.observe({ elapsedMs: 10_000, bytes: 1000 * MiB });
    const d = governor.observe({ elapsedMs: 11_000, bytes: 1015 * MiB });
    expect(d.limitMiBps).toBe(16);
    expect(d.capRatio).toBeLessThan(1);
  });

  it('switchFits: room for the bytes left under target x cap x elapsed', () => {
    const governor = new CapGovernor({ capMiBps: 16, initialLimitMiBps: 16, budgetFrom: 'start' });
    expect(governor.switchFits({ elapsedMs: 10_000, bytes: 100 * MiB, remainingBytes: 50 * MiB })).toBe(true);
    expect(governor.switchFits({ elapsedMs: 10_000, bytes: 150 * MiB, remainingBytes: 50 * MiB })).toBe(false);
    expect(governor.holdPrecopyLimitMiBps()).toBe(8);
    const fromSwitch = new CapGovernor({ capMiBps: 16, initialLimitMiBps: 16, budgetFrom: 'switch' });
    expect(fromSwitch.switchFits({ elapsedMs: 1000, bytes: 900 * MiB, remainingBytes: 50 * MiB })).toBe(true);
  });

  it('rejects a cap of 0 with a message naming the field', () => {
    expect(() => new CapGovernor({ capMiBps: 0, initialLimitMiBps: 0, budgetFrom: 'start' })).toThrow(/capMiBps must be > 0/);
  });
});

describe('the adapter applies the governor after the switch through virDomainMigrateSetMaxSpeed(POSTCOPY)', () => {
  it('sets a post-copy limit below the cap when the job runs over it, with the POSTCOPY flag', async () => {
    const calls: { bandwidth: number; flags: number }[] = [];
    const conn = {
      domainGetState: async () => ({ state: 1, reason: 1 }),
      domainMigrateStartPostCopy: async () => {},
      domainMigrateSetMaxSpeed: async (_dom: unknown, bandwidth: number, flags: number) => void calls.push({ bandwidth, flags }),
    } as unknown as LibvirtConnection;
    const config = migrationSchema.parse({});
    const recipe = { flags: 0, params: { bandwidthMiBps: 16, bandwidthPostcopyMiBps: 16 }, postcopy: { mode: 'immediately' as const } };
    const limits: (number | undefined)[] = [];
    const adapter = new Adapter({
      recipe,
      config,
      downtimeBudgetMs: 300,
      startedAtMs: Date.now(),
      log: silentLogger(),
      onProgress: (p) => limits.push(p.postcopyLimitMiBps),
    });
    const dom = { name: 'vm1', uuid: 'u', id: 1 };
    // 26 MiB/s over the job: 16 at the limit plus 10 of urgent pages.
    for (let s = 1; s <= 4; s++) await adapter.onSample({ time_elapsed: s * 1000, data_processed: 26 * s * MiB }, conn, dom);
    expect(adapter.switchedToPostcopy).toBe(true);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.flags === MigrateMaxSpeedFlags.POSTCOPY && c.bandwidth >= 1 && c.bandwidth < 16)).toBe(true);
    expect(limits.at(-1)).toBe(calls.at(-1)!.bandwidth);
  });

  it('a post-copy from the start begins at half the cap and is raised toward it while the move has room', async () => {
    const calls: { bandwidth: number; flags: number }[] = [];
    const conn = {
      domainGetState: async () => ({ state: 1, reason: 1 }),
      domainMigrateStartPostCopy: async () => {},
      domainMigrateSetMaxSpeed: async (_dom: unknown, bandwidth: number, flags: number) => void calls.push({ bandwidth, flags }),
    } as unknown as LibvirtConnection;
    const recipe = { flags: 0, params: { bandwidthMiBps: 24, bandwidthPostcopyMiBps: 12 }, postcopy: { mode: 'immediately' as const }, postcopyCapMiBps: 24 };
    const adapter = new Adapter({ recipe, config: migrationSchema.parse({}), downtimeBudgetMs: 300, startedAtMs: Date.now(), log: silentLogger() });
    const dom = { name: 'vm1', uuid: 'u', id: 1 };
    // 1 s of setup with nothing sent, then 12 MiB/s (the limit, no urgent pages): room to raise it.
    await adapter.onSample({ time_elapsed: 1000, data_processed: 0 }, conn, dom);
    await adapter.onSample({ time_elapsed: 2000, data_processed: 12 * MiB }, conn, dom);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.at(-1)).toEqual({ bandwidth: 24, flags: MigrateMaxSpeedFlags.POSTCOPY });
  });

  it('hybrid: a due switch waits, pre-copy slowed to half the cap, until the budget can take the bytes left', async () => {
    const calls: { bandwidth: number; flags: number }[] = [];
    let switches = 0;
    const conn = {
      domainGetState: async () => ({ state: 1, reason: 1 }),
      domainMigrateStartPostCopy: async () => void switches++,
      domainMigrateSetMaxSpeed: async (_dom: unknown, bandwidth: number, flags: number) => void calls.push({ bandwidth, flags }),
    } as unknown as LibvirtConnection;
    const recipe = { flags: 0, params: { bandwidthMiBps: 16, bandwidthPostcopyMiBps: 16 }, postcopy: { mode: 'afterIterations' as const, iterations: 2 } };
    const adapter = new Adapter({ recipe, config: migrationSchema.parse({}), downtimeBudgetMs: 300, startedAtMs: Date.now(), log: silentLogger() });
    const dom = { name: 'vm1', uuid: 'u', id: 1 };
    // Pre-copy at the cap; 3rd pass begins at 10 s with 30 MiB left: 160 + 30 > 0.97 x 16 x 10.
    await adapter.onSample({ time_elapsed: 5000, data_processed: 80 * MiB, data_remaining: 100 * MiB, memory_iteration: 2 }, conn, dom);
    await adapter.onSample({ time_elapsed: 10_000, data_processed: 160 * MiB, data_remaining: 30 * MiB, memory_iteration: 3 }, conn, dom);
    expect(switches).toBe(0);
    expect(calls).toEqual([{ bandwidth: 8, flags: 0 }]);
    // At 8 MiB/s for 3 s not yet (184 + 30 > 0.97 x 16 x 13); for 5 s it has room (200 + 30 <= 0.97 x 16 x 15).
    await adapter.onSample({ time_elapsed: 13_000, data_processed: 184 * MiB, data_remaining: 30 * MiB, memory_iteration: 3 }, conn, dom);
    expect(switches).toBe(0);
    await adapter.onSample({ time_elapsed: 15_000, data_processed: 200 * MiB, data_remaining: 30 * MiB, memory_iteration: 3 }, conn, dom);
    expect(switches).toBe(1);
    expect(adapter.switchedToPostcopy).toBe(true);
  });

  it('hybrid without a cap switches after its passes at once', async () => {
    let switches = 0;
    const conn = {
      domainGetState: async () => ({ state: 1, reason: 1 }),
      domainMigrateStartPostCopy: async () => void switches++,
    } as unknown as LibvirtConnection;
    const recipe = { flags: 0, params: {}, postcopy: { mode: 'afterIterations' as const, iterations: 2 } };
    const adapter = new Adapter({ recipe, config: migrationSchema.parse({}), downtimeBudgetMs: 300, startedAtMs: Date.now(), log: silentLogger() });
    await adapter.onSample({ time_elapsed: 10_000, data_processed: 900 * MiB, data_remaining: 300 * MiB, memory_iteration: 3 }, conn, {
      name: 'vm1',
      uuid: 'u',
      id: 1,
    });
    expect(switches).toBe(1);
  });

  it('a pre-copy-only recipe never touches the post-copy limit', async () => {
    let set = 0;
    const conn = { domainMigrateSetMaxSpeed: async () => void set++ } as unknown as LibvirtConnection;
    const adapter = new Adapter({
      recipe: { flags: 0, params: { bandwidthMiBps: 16 }, postcopy: { mode: 'never' } },
      config: migrationSchema.parse({}),
      downtimeBudgetMs: 300,
      startedAtMs: Date.now(),
      log: silentLogger(),
    });
    for (let s = 1; s <= 3; s++)
      await adapter.onSample({ time_elapsed: s * 1000, data_processed: 40 * s * MiB, memory_iteration: s }, conn, { name: 'vm1', uuid: 'u', id: 1 });
    expect(set).toBe(0);
  });
});

describe('a multifd move under a cap: the split per-channel limit raised while the whole move stays within the cap', () => {
  /**
   * A 2-channel multifd pre-copy under QEMU's max-bandwidth `limit`, sampled every second, through
   * the adapter. `perChannel`: the limit holds each channel (the sum runs at 2 x limit, as a
   * 16 MiB/s cap once peaked at 30 MiB/s in the lab); otherwise it holds their sum. Returns the
   * limits set and the rate over the whole move.
   */
  async function run(perChannel: boolean, seconds = 20) {
    const calls: { bandwidth: number; flags: number }[] = [];
    let limit = 12;
    const conn = {
      domainMigrateSetMaxSpeed: async (_dom: unknown, bandwidth: number, flags: number) => {
        calls.push({ bandwidth, flags });
        limit = bandwidth;
      },
    } as unknown as LibvirtConnection;
    const recipe = { flags: 0, params: { bandwidthMiBps: 12, parallelConnections: 2 }, postcopy: { mode: 'never' as const }, multifdCapMiBps: 24 };
    const adapter = new Adapter({ recipe, config: migrationSchema.parse({}), downtimeBudgetMs: 300, startedAtMs: Date.now(), log: silentLogger() });
    let sentMiB = 0;
    for (let s = 1; s <= seconds; s++) {
      sentMiB += perChannel ? 2 * limit : limit;
      await adapter.onSample({ time_elapsed: s * 1000, data_processed: sentMiB * MiB, memory_iteration: 1 + Math.floor(s / 5) }, conn, {
        name: 'vm1',
        uuid: 'u',
        id: 1,
      });
    }
    return { calls, ratio: sentMiB / (seconds * 24) };
  }

  it('QEMU holding the sum: the limit rises from the split 12 to the cap and the move runs near the cap, not at half of it', async () => {
    const { calls, ratio } = await run(false);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((c) => c.flags === 0 && c.bandwidth >= 1 && c.bandwidth <= 24)).toBe(true);
    expect(calls.at(-1)!.bandwidth).toBe(24);
    expect(ratio).toBeGreaterThan(0.85);
    expect(ratio).toBeLessThanOrEqual(1.1);
  });

  it('QEMU holding each channel: the limit settles near half the cap and the move stays within it', async () => {
    const { ratio } = await run(true);
    expect(ratio).toBeGreaterThan(0.85);
    expect(ratio).toBeLessThanOrEqual(1.1);
  });

  it('a multifd recipe under a cap carries the whole cap beside the split limit; without a cap it does not', () => {
    const config = migrationSchema.parse({ bandwidthMiBps: 24 });
    const base = { targetLibvirtUri: 'qemu+tcp://10.0.0.7/system', copyStorage: false, allowPostcopySwitch: false };
    const r = recipeFor('multifd', { ...base, config });
    expect(r.params.bandwidthMiBps).toBe(12);
    expect(r.multifdCapMiBps).toBe(24);
    expect(recipeFor('multifd', { ...base, config: migrationSchema.parse({}) }).multifdCapMiBps).toBeUndefined();
    expect(recipeFor('precopy', { ...base, config }).multifdCapMiBps).toBeUndefined();
  });
});
