/**
 * Consolidation (off by default): empty lightly loaded hosts so they can be powered down. VMs on
 * hosts below cpuLowPercent are candidates; targets are the busiest hosts that stay under the
 * high threshold. Its filter is a hard one for its own must-moves (they must not overload targets).
 */
import { definePolicy } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

export default registerBuiltinPolicy(definePolicy({
  name: 'consolidation',
  description: 'Pack VMs onto fewer hosts (power saving)',
  select(ctx) {
    const up = ctx.state.hosts.filter((h) => h.up && !h.maintenance);
    const light = up.filter((h) => (ctx.projected(h.name)?.cpuRatio ?? 1) < ctx.thresholds.cpuLow && ctx.vmsOn(h.name).length > 0);
    // Empty the lightest host first, one host per tick.
    light.sort((a, b) => ctx.projected(a.name)!.cpuRatio - ctx.projected(b.name)!.cpuRatio);
    const host = light[0];
    if (!host || up.length < 2) return [];
    return ctx
      .vmsOn(host.name)
      .filter((v) => v.state === 'running')
      .map((vm) => ({ vm, reason: `consolidate: host ${host.name} CPU ${(ctx.projected(host.name)!.cpuRatio * 100).toFixed(0)}% < ${(ctx.thresholds.cpuLow * 100).toFixed(0)}%`, mustMove: true }));
  },
  filter(vm, host, ctx) {
    const p = ctx.projected(host.name)!;
    if (p.cpuRatio < ctx.thresholds.cpuLow && p.vmUuids.size <= 1) return `${host.name} is itself being emptied`;
    return p.cpuRatioP90 + ctx.cpuShare(vm, host) <= ctx.thresholds.cpuHigh - ctx.thresholds.hysteresis ? true : `${host.name} would go above the CPU threshold`;
  },
  score(_vm, host, ctx) {
    // Busiest eligible host first: that is what packs.
    return Math.min(1, ctx.projected(host.name)!.cpuRatio);
  },
}));
