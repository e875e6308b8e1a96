/**
 * CPU and memory balance: VMs on hosts above the CPU or memory threshold are candidates (the ones
 * that relieve the host most first); targets score higher the more headroom they keep.
 */
import { definePolicy, ordinaryMemoryBytes } from '../src/policy/api.js';

export default definePolicy({
  name: 'balance',
  description: 'Move VMs off hosts above the CPU/memory thresholds to the least loaded hosts',
  select(ctx) {
    const candidates = [];
    for (const host of ctx.state.hosts) {
      if (!host.up || !ctx.overloaded(host.name)) continue;
      const p = ctx.projected(host.name)!;
      const cpuHot = p.cpuRatio > ctx.thresholds.cpuHigh;
      const vms = ctx.state.vms.filter((v) => v.host === host.name && v.state === 'running');
      // Biggest contributor to the hot resource first.
      vms.sort((a, b) => (cpuHot ? ctx.cpuShare(b, host) - ctx.cpuShare(a, host) : ordinaryMemoryBytes(b) - ordinaryMemoryBytes(a)));
      for (const vm of vms) {
        candidates.push({
          vm,
          reason: cpuHot
            ? `host ${host.name} CPU ${(p.cpuRatio * 100).toFixed(0)}% > ${(ctx.thresholds.cpuHigh * 100).toFixed(0)}%`
            : `host ${host.name} memory ${((p.memoryUsedBytes / host.memoryTotalBytes) * 100).toFixed(0)}% > ${(ctx.thresholds.memoryHigh * 100).toFixed(0)}%`,
        });
      }
    }
    return candidates;
  },
  filter(vm, host, ctx) {
    const p = ctx.projected(host.name)!;
    const cpuAfter = p.cpuRatioP90 + ctx.cpuShare(vm, host);
    const limit = ctx.thresholds.cpuHigh - ctx.thresholds.hysteresis;
    if (cpuAfter > limit) return `${host.name} would reach CPU ${(cpuAfter * 100).toFixed(0)}% (limit ${(limit * 100).toFixed(0)}% with hysteresis)`;
    const memAfter = (p.memoryUsedBytes + ordinaryMemoryBytes(vm)) / host.memoryTotalBytes;
    const memLimit = ctx.thresholds.memoryHigh - ctx.thresholds.hysteresis;
    if (memAfter > memLimit) return `${host.name} would reach memory ${(memAfter * 100).toFixed(0)}% (limit ${(memLimit * 100).toFixed(0)}%)`;
    return true;
  },
  score(vm, host, ctx) {
    const p = ctx.projected(host.name)!;
    const cpuHeadroom = 1 - Math.min(1, p.cpuRatio + ctx.cpuShare(vm, host));
    const memHeadroom = 1 - Math.min(1, (p.memoryUsedBytes + ordinaryMemoryBytes(vm)) / host.memoryTotalBytes);
    return 0.7 * cpuHeadroom + 0.3 * memHeadroom;
  },
});
