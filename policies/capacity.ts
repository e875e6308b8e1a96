/** Capacity: memory is a hard limit, vCPUs up to the overcommit ratio (both from config). */
import { definePolicy, hugepageShortfall, ordinaryMemoryBytes } from '../src/policy/api.js';

export default definePolicy({
  name: 'capacity',
  description: 'Never place beyond host memory (x memoryOvercommitRatio) or vCPUs (x cpuOvercommitRatio)',
  filter(vm, host, ctx) {
    const p = ctx.projected(host.name)!;
    const memoryLimit = host.memoryTotalBytes * host.memoryOvercommitRatio;
    // A hugepage-backed VM takes free pages of its size, not ordinary memory (and vice versa).
    const memory = ordinaryMemoryBytes(vm);
    if (p.memoryUsedBytes + memory > memoryLimit) {
      return `${host.name} has ${((memoryLimit - p.memoryUsedBytes) / 2 ** 20).toFixed(0)} MiB free, VM needs ${(memory / 2 ** 20).toFixed(0)} MiB`;
    }
    const pagesShort = hugepageShortfall(vm, p);
    if (pagesShort) return pagesShort;
    const vcpuLimit = host.cpuCount * host.cpuOvercommitRatio;
    if (p.vcpus + vm.vcpus > vcpuLimit) return `${host.name} would have ${p.vcpus + vm.vcpus} vCPUs, limit ${vcpuLimit} (cpuOvercommitRatio ${host.cpuOvercommitRatio})`;
    return true;
  },
});
