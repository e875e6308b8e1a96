/**
 * What the cost model is told about a move (issue 31): the memory that must move (zero pages are
 * not sent: what libvirt counted at the VM's last move, else its RSS, else its memory), the link
 * beside the cap, the guest's CPU use.
 */
import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { completedJobFigures } from '../../../src/executor/vm-on-host.js';
import type { JournalEntry } from '../../../src/history/journal.js';
import { LearnedFromMigrations } from '../../../src/history/learned.js';
import { plan } from '../../../src/policy/engine.js';
import { memoryToMoveBytes, moveInputs } from '../../../src/policy/move-inputs.js';
import { host, state, vm } from './fixtures.js';

const MiB = 2 ** 20;

describe('the memory a move must send', () => {
  it("prefers what libvirt counted at the VM's last move, then its RSS when smaller than its memory, never more than its memory", () => {
    expect(memoryToMoveBytes(192 * MiB, 280 * MiB, 127 * MiB)).toBe(127 * MiB);
    expect(memoryToMoveBytes(192 * MiB, 150 * MiB)).toBe(150 * MiB);
    expect(memoryToMoveBytes(192 * MiB, 280 * MiB)).toBe(192 * MiB);
    expect(memoryToMoveBytes(192 * MiB)).toBe(192 * MiB);
    // A guest shrunk by its balloon since: no more than it has now.
    expect(memoryToMoveBytes(96 * MiB, undefined, 127 * MiB)).toBe(96 * MiB);
  });

  it("reads a completed job's non-zero memory as libvirt's memory_total less its memory_constant pages", () => {
    // The oracle grid's 192 MiB guest: 16,256 of its 49,152 pages were not zero.
    const figures = completedJobFigures({ time_elapsed: 5750, memory_total: 192 * MiB, memory_constant: 49_152 - 32_512, memory_page_size: 4096 }, 0);
    expect(figures.nonzeroMemoryBytes).toBe(32_512 * 4096);
    // Without the zero-page count (an older libvirt or QEMU), nothing is claimed.
    expect(completedJobFigures({ time_elapsed: 5750, memory_total: 192 * MiB }, 0).nonzeroMemoryBytes).toBeUndefined();
  });

  it("learns each VM's non-zero memory from the journal and from live outcomes, and plans its next move with it", async () => {
    const outcome = (vmUuid: string, nonzeroMemoryBytes: number, atMs: number): JournalEntry => ({
      type: 'outcome',
      atMs,
      vm: 'v',
      vmUuid,
      from: 'a',
      to: 'b',
      technique: 'postcopy',
      outcome: 'completed',
      totalMs: 5000,
      bytes: nonzeroMemoryBytes,
      nonzeroMemoryBytes,
    });
    const hot = vm('hot1', 'a', 1, { memoryBytes: 2048 * MiB });
    const learned = new LearnedFromMigrations([outcome(hot.uuid, 900 * MiB, 1), outcome(hot.uuid, 700 * MiB, 2)]);
    const options = learned.planOptions(migrationSchema.parse({}));
    expect(options.nonzeroMemoryBytes(hot.uuid)).toBe(700 * MiB);
    expect(options.nonzeroMemoryBytes('someone-else')).toBeUndefined();
    learned.observe({
      ...outcome(hot.uuid, 650 * MiB, 3),
      predicted: { totalSeconds: 1, downtimeMs: 1, bytes: 1, converges: true },
      endedAtMs: 3,
    } as Parameters<LearnedFromMigrations['observe']>[0]);
    expect(options.nonzeroMemoryBytes(hot.uuid)).toBe(650 * MiB);

    const config = policySchema.parse({ cooldownSeconds: 0, maxMovesPerTick: 1, moveCostWeight: 0 });
    const pinned = { tags: ['pinned'] };
    const s = state([host('a'), host('b')], [hot, vm('hot2', 'a', 1, pinned), vm('hot3', 'a', 1, pinned), vm('hot4', 'a', 1, pinned)]);
    const withHistory = await plan(s, { config, ...options });
    const without = await plan(s, { config });
    expect(withHistory.moves[0]).toMatchObject({ vmName: 'hot1', inputs: { memoryBytes: 650 * MiB } });
    expect(without.moves[0]).toMatchObject({ vmName: 'hot1', inputs: { memoryBytes: 2048 * MiB } });
    expect(withHistory.moves[0].predicted.bytes).toBeLessThan(without.moves[0].predicted.bytes / 2);
  });
});

describe('the link and the guest beside the memory', () => {
  it('gives the link before the cap (the stop-and-copy runs uncapped) and the guest CPU use when measured', () => {
    const config = policySchema.parse({});
    const measured = moveInputs(vm('v', 'a', 0.3), config, 24, 70);
    expect(measured).toMatchObject({ bandwidthMiBps: 24, linkMiBps: 70, bandwidthMeasured: true, guestCpuShare: 0.3 });
    const assumed = moveInputs(vm('v', 'a', 0.3), config, 24);
    expect(assumed).toMatchObject({ bandwidthMiBps: 24, linkMiBps: config.bandwidthMiBps, bandwidthMeasured: false });
    const unmeasuredCpu = moveInputs(vm('v', 'a', 0, { cpuUtilization: { last: 0, mean: 0, p90: 0, samples: 0 } }), config);
    expect(unmeasuredCpu.guestCpuShare).toBeUndefined();
  });
});
