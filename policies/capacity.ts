/** Capacity: memory is a hard limit, vCPUs up to the overcommit ratio (both from config). */
import { definePolicy } from '../src/policy/api.js';

export default definePolicy({
  name: 'capacity',
  description: 'Never place beyond host memory (x memoryOvercommitRatio) or vCPUs (x cpuOvercommitRatio)',
  filter(vm, host, ctx) {
    const p = ctx.projected(host.name)!;
    const memoryLimit = host.memoryTotalBytes * host.memoryOvercommitRatio;
    if (p.memoryUsedBytes + vm.memoryBytes > memoryLimit) {
      return `${host.name} has ${((memoryLimit - p.memoryUsedBytes) / 2 ** 20).toFixed(0)} MiB free, VM needs ${(vm.memoryBytes / 2 ** 20).toFixed(0)} MiB`;
    }
    const vcpuLimit = host.cpuCount * host.cpuOvercommitRatio;
    if (p.vcpus + vm.vcpus > vcpuLimit) return `${host.name} would have ${p.vcpus + vm.vcpus} vCPUs, limit ${vcpuLimit} (cpuOvercommitRatio ${host.cpuOvercommitRatio})`;
    return true;
  },
});
