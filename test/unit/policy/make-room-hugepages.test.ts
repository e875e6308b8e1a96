/**
 * make-room.ts judges "would the stuck VM fit once this VM left?" with the memory that VM frees as
 * memory-fit.ts counts it: a hugepage-backed VM frees its pages (hugepagesNeeded), and only when it
 * holds memory. A shut-off hugepage-backed VM holds no pages: counting its pages as freed made every
 * shut-off one look like room (they sort first, holding no ordinary memory), used up the tries, and
 * the running VM whose leaving does free the pages was never tried.
 */
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { host, state, vm } from './fixtures.js';

const GiB = 2 ** 30;
const PAGE_KIB = 2048;
const pages = (bytes: number) => bytes / (PAGE_KIB * 1024);
const pool = (totalBytes: number, freeBytes: number) => [{ pageSizeKiB: PAGE_KIB, totalPages: pages(totalBytes), freePages: pages(freeBytes) }];
const hugeVm = (name: string, on: string, bytes: number, extra = {}) =>
  vm(name, on, 0.1, { memoryBytes: bytes, maxMemoryBytes: bytes, hugepageSizeKiB: PAGE_KIB, ...extra });

describe('make room with hugepages', () => {
  it('a shut-off hugepage VM frees no pages: the running one that does is moved to make room (24 shut-off ones before it in the order)', async () => {
    // huge (6 GiB of pages) must leave a. b has 4 GiB of pages free (hp-run holds 4): short; c's pool
    // is 4 GiB, all free: short too. hp-run fits c exactly, and its leaving frees b's pages for huge.
    const off = Array.from({ length: 24 }, (_, i) => hugeVm(`aa-off-${String(i).padStart(2, '0')}`, 'b', 4 * GiB, { state: 'shutoff' }));
    const observed = state(
      [
        host('a', { maintenance: true, hugepages: pool(8 * GiB, 2 * GiB) }),
        host('b', { cpuCount: 8, hugepages: pool(8 * GiB, 4 * GiB) }),
        host('c', { hugepages: pool(4 * GiB, 4 * GiB) }),
      ],
      [hugeVm('huge', 'a', 6 * GiB), hugeVm('hp-run', 'b', 4 * GiB), ...off],
    );
    // Every VM is hugepage-backed: none uses ordinary memory (the fixture counts every VM's).
    const s = { ...observed, hosts: observed.hosts.map((h) => ({ ...h, memoryUsedBytes: 0 })) };
    const planned = await plan(s, { config: policySchema.parse({ maxMovesPerTick: 10, cooldownSeconds: 0 }) });
    const made = planned.moves.filter((m) => m.makesRoomFor !== undefined);
    expect(
      made.map((m) => `${m.vmName} ${m.from}->${m.to}`),
      JSON.stringify(planned.notices),
    ).toEqual(['hp-run b->c']);
    expect(made[0].makesRoomFor).toBe(vm('huge', 'a', 0).uuid);
    expect(planned.notices?.map((n) => n.message)).toContain(
      'huge must leave a (host a is in maintenance) and fits on no host now: making room on b by moving hp-run to c; huge follows once it has left',
    );
  });
  it('of the hugepage VMs whose leaving makes room, the one holding the fewest pages moves (not the first by name: all hold no ordinary memory)', async () => {
    // huge (2 GiB of pages, 8 vCPUs) must leave a; c has the pages but 4 CPUs; b has 16 CPUs and no free page.
    // Either of b's VMs leaving frees enough: zz-small (2 GiB) is less to move than aa-big (6 GiB).
    const observed = state(
      [
        host('a', { maintenance: true, hugepages: pool(8 * GiB, 6 * GiB) }),
        host('b', { cpuCount: 16, hugepages: pool(8 * GiB, 0) }),
        host('c', { cpuCount: 4, hugepages: pool(8 * GiB, 8 * GiB) }),
      ],
      [hugeVm('huge', 'a', 2 * GiB, { vcpus: 8 }), hugeVm('aa-big', 'b', 6 * GiB), hugeVm('zz-small', 'b', 2 * GiB)],
    );
    const s = { ...observed, hosts: observed.hosts.map((h) => ({ ...h, memoryUsedBytes: 0 })) };
    const planned = await plan(s, { config: policySchema.parse({ maxMovesPerTick: 10, cooldownSeconds: 0 }) });
    expect(
      planned.moves.filter((m) => m.makesRoomFor !== undefined).map((m) => `${m.vmName} ${m.from}->${m.to}`),
      JSON.stringify(planned.notices),
    ).toEqual(['zz-small b->c']);
  });
});
