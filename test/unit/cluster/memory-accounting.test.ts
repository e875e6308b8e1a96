import { describe, expect, it } from 'vitest';
import { parseHostCapabilities } from '../../../src/cluster/capabilities.js';
import { hugepageSizeKiB } from '../../../src/cluster/domain-xml.js';
import { hostMemory } from '../../../src/cluster/memory-accounting.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { host, state, vm } from '../policy/fixtures.js';

const GiB = 2 ** 30;
const KiBof = (bytes: number) => BigInt(bytes / 1024);

describe('host memory as operators count it', () => {
  it('node stats: a 256 GiB host with 200 GiB of mostly free hugepages reads 30 of 56 GiB used, not 90 %', () => {
    // MemFree excludes the whole hugepage pool; 25 GiB free, 1 GiB buffers and cache.
    const memStats = { total: KiBof(256 * GiB), free: KiBof(25 * GiB), buffers: KiBof(0.5 * GiB), cached: KiBof(0.5 * GiB) };
    const hugepages = [{ pageSizeKiB: 2048, totalPages: 102_400, freePages: 90_000 }];
    const without = hostMemory({ nodeMemoryBytes: 256 * GiB, memStats, vms: [] });
    expect(without.memoryUsedBytes / without.memoryTotalBytes).toBeCloseTo(0.898, 3);
    const withPools = hostMemory({ nodeMemoryBytes: 256 * GiB, memStats, vms: [], hugepages });
    expect(withPools).toEqual({ memoryTotalBytes: 56 * GiB, memoryUsedBytes: 30 * GiB });
  });

  it('capacity: shut-off definitions hold no memory, paused and crashed ones do (two 20 GiB VMs running, 80 GiB shut off, 4 GiB paused, 4 GiB crashed: 48 GiB used)', () => {
    const vms = [
      { state: 'running' as const, memoryBytes: 20 * GiB },
      { state: 'running' as const, memoryBytes: 20 * GiB },
      ...[1, 2, 3, 4].map(() => ({ state: 'shutoff' as const, memoryBytes: 20 * GiB })),
      { state: 'paused' as const, memoryBytes: 4 * GiB },
      { state: 'crashed' as const, memoryBytes: 4 * GiB },
    ];
    expect(hostMemory({ nodeMemoryBytes: 256 * GiB, capacityMiB: 128 * 1024, vms })).toEqual({ memoryTotalBytes: 128 * GiB, memoryUsedBytes: 48 * GiB });
  });

  it('capacity: hugepage-backed VMs count against their pool, not ordinary memory', () => {
    const vms = [
      { state: 'running' as const, memoryBytes: 16 * GiB, hugepageSizeKiB: 2048 },
      { state: 'running' as const, memoryBytes: 8 * GiB },
    ];
    expect(hostMemory({ nodeMemoryBytes: 64 * GiB, capacityMiB: 32 * 1024, vms }).memoryUsedBytes).toBe(8 * GiB);
  });
});

describe('what the XML says', () => {
  it('reads the hugepage size backing a domain', () => {
    expect(hugepageSizeKiB('<domain><memory unit="KiB">1048576</memory></domain>')).toBeUndefined();
    expect(hugepageSizeKiB('<domain><memoryBacking>\n<hugepages/>\n</memoryBacking></domain>')).toBe(2048);
    expect(hugepageSizeKiB("<memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>")).toBe(1_048_576);
    expect(hugepageSizeKiB("<memoryBacking><hugepages><page size='2048' unit='KiB' nodeset='0'/></hugepages></memoryBacking>")).toBe(2048);
    expect(hugepageSizeKiB('<memoryBacking><nosharepages/></memoryBacking>')).toBeUndefined();
  });

  it('reads the host UUID, hugepage sizes and pool totals per NUMA cell from capabilities', () => {
    const caps = `<capabilities><host><uuid>4C4C4544-0000-1000-8000-000000000001</uuid><cpu><arch>x86_64</arch>
      <pages unit='KiB' size='4'/><pages unit='KiB' size='2048'/><pages unit='KiB' size='1048576'/></cpu>
      <topology><cells num='2'>
      <cell id='0'><memory unit='KiB'>1</memory><pages unit='KiB' size='4'>100</pages><pages unit='KiB' size='2048'>51200</pages><pages unit='KiB' size='1048576'>0</pages></cell>
      <cell id='1'><memory unit='KiB'>1</memory><pages unit='KiB' size='4'>100</pages><pages unit='KiB' size='2048'>51200</pages><pages unit='KiB' size='1048576'>2</pages></cell>
      </cells></topology></host></capabilities>`;
    const parsed = parseHostCapabilities(caps);
    expect(parsed.uuid).toBe('4c4c4544-0000-1000-8000-000000000001');
    expect(parsed.hugepageSizesKiB).toEqual([2048, 1_048_576]);
    expect([...parsed.hugepageTotals]).toEqual([
      [2048, 102_400],
      [1_048_576, 2],
    ]);
    expect(parsed.cellCount).toBe(2);
  });
});

describe('planning with hugepages', () => {
  const config = policySchema.parse({});
  // b: 64 GiB, 56 GiB of it a 2 MiB hugepage pool with 40 GiB free; 8 GiB ordinary, 6 GiB used.
  const b = host('b', { cpuCount: 16, memoryTotalBytes: 8 * GiB, hugepages: [{ pageSizeKiB: 2048, totalPages: 28_672, freePages: 20_480 }] });

  it('a hugepage VM goes where free pages of its size suffice; an ordinary VM does not count them', async () => {
    const vms = [
      vm('hp', 'a', 1, { vcpus: 4, memoryBytes: 4 * GiB, maxMemoryBytes: 4 * GiB, hugepageSizeKiB: 2048 }),
      vm('plain', 'a', 1, { vcpus: 4, memoryBytes: 4 * GiB, maxMemoryBytes: 4 * GiB }),
      vm('resident', 'b', 0.1, { memoryBytes: 6 * GiB }),
    ];
    const s = state([host('a', { cpuCount: 4, memoryTotalBytes: 64 * GiB }), b], vms);
    const p = await plan(s, { config });
    expect(p.moves.map((m) => [m.vmName, m.to])).toEqual([['hp', 'b']]);
    expect(p.skipped.find((x) => x.vmName === 'plain')?.reason).toMatch(/b lacks memory|b has .* MiB free/);
  });

  it('never sends a hugepage VM to a host without enough free pages, or whose pages are unknown', async () => {
    const big = vm('hp-big', 'a', 1, { vcpus: 4, memoryBytes: 48 * GiB, maxMemoryBytes: 48 * GiB, hugepageSizeKiB: 2048 });
    const giant = vm('hp-1g', 'a', 1, { vcpus: 4, memoryBytes: 2 * GiB, maxMemoryBytes: 2 * GiB, hugepageSizeKiB: 1_048_576 });
    const s = state([host('a', { cpuCount: 4, memoryTotalBytes: 64 * GiB }), b, host('c', { cpuCount: 16, memoryTotalBytes: 64 * GiB })], [big, giant]);
    const p = await plan(s, { config });
    expect(p.moves).toEqual([]);
    const reasons = p.skipped.map((x) => `${x.vmName}: ${x.reason}`).join('\n');
    expect(reasons).toContain('b has 20480 free 2048 KiB hugepages, hp-big needs 24576');
    expect(reasons).toContain('free hugepages of c are unknown');
    expect(reasons).toContain('b has no 1048576 KiB hugepage pool');
  });
});
