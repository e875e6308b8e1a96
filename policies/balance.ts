/**
 * CPU and memory balance. Candidates: VMs on hosts above the CPU or memory threshold (hot spots,
 * CPU forecast ahead when policy.forecast is on) and VMs on spread sources (hosts well above the
 * cluster mean, policy.spread); the engine orders them by objective gain per migration second. The
 * filter keeps targets below the thresholds less hysteresis (a soft limit: must-moves ignore it);
 * targets score higher the more headroom they keep (CPU: the mean of the share in use and the share
 * of vCPUs committed), CPU and memory weighted as in policy.objective.
 */
import { definePolicy, ordinaryMemoryBytes } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

export default registerBuiltinPolicy(
  definePolicy({
    name: 'balance',
    description: 'Relieve hosts above the CPU/memory thresholds and spread load over the hosts',
    softFilter: true,
    select(ctx) {
      const candidates = [];
      for (const host of ctx.state.hosts) {
        if (!host.up || host.maintenance) continue;
        const hot = ctx.overloaded(host.name);
        const spread = hot ? undefined : ctx.spreadSource(host.name);
        if (!hot && !spread) continue;
        const p = ctx.projected(host.name)!;
        let reason = spread ?? '';
        if (hot) {
          const cpu = ctx.forecastCpu(host.name);
          const memory = host.memoryTotalBytes > 0 ? p.memoryUsedBytes / host.memoryTotalBytes : 0;
          const parts = [];
          if (cpu > ctx.thresholds.cpuHigh) {
            parts.push(
              cpu > p.cpuRatio + 1e-9 && p.cpuRatio <= ctx.thresholds.cpuHigh
                ? `CPU ${(p.cpuRatio * 100).toFixed(0)}% forecast to reach ${(cpu * 100).toFixed(0)}% > ${(ctx.thresholds.cpuHigh * 100).toFixed(0)}% within ${ctx.config.forecast.aheadTicks} ticks`
                : `CPU ${(p.cpuRatio * 100).toFixed(0)}% > ${(ctx.thresholds.cpuHigh * 100).toFixed(0)}%`,
            );
          }
          if (memory > ctx.thresholds.memoryHigh) parts.push(`memory ${(memory * 100).toFixed(0)}% > ${(ctx.thresholds.memoryHigh * 100).toFixed(0)}%`);
          reason = `host ${host.name} ${parts.join(', ')}`;
        }
        for (const vm of ctx.vmsOn(host.name)) {
          if (vm.state !== 'running') continue;
          candidates.push({ vm, reason });
        }
      }
      return candidates;
    },
    filter(vm, host, ctx) {
      const p = ctx.projected(host.name)!;
      // The p90 of the per-instant sum of the target's and the VM's windows: summing p90s would
      // find every target full when many small VMs each peak at a different instant (issue 24).
      const cpuAfter = ctx.cpuP90With(vm, host.name);
      const limit = ctx.thresholds.cpuHigh - ctx.thresholds.hysteresis;
      if (cpuAfter > limit) return `${host.name} would reach CPU ${(cpuAfter * 100).toFixed(0)}% (limit ${(limit * 100).toFixed(0)}% with hysteresis)`;
      const memAfter = (p.memoryUsedBytes + ordinaryMemoryBytes(vm)) / host.memoryTotalBytes;
      const memLimit = ctx.thresholds.memoryHigh - ctx.thresholds.hysteresis;
      if (memAfter > memLimit) return `${host.name} would reach memory ${(memAfter * 100).toFixed(0)}% (limit ${(memLimit * 100).toFixed(0)}%)`;
      return true;
    },
    score(vm, host, ctx) {
      // Consolidating, the headroom preference would spread relief over empty hosts: neutral, the
      // consolidation policy's packing score decides.
      if (ctx.config.goal === 'consolidate') return 0.5;
      const p = ctx.projected(host.name)!;
      // CPU headroom: half the CPU in use now, half the vCPUs committed. The window sees an idle VM
      // as 0 % (a PlanetLab sample is 5 minutes), so a host full of idle VMs looked as empty as an
      // empty host and took busy VMs until its VMs woke together (issue 26's replay).
      const used = 1 - Math.min(1, p.cpuRatio + ctx.cpuShare(vm, host));
      const committed = host.cpuCount > 0 ? 1 - Math.min(1, (p.vcpus + vm.vcpus) / host.cpuCount) : 0;
      const cpuHeadroom = (used + committed) / 2;
      const memHeadroom = 1 - Math.min(1, (p.memoryUsedBytes + ordinaryMemoryBytes(vm)) / host.memoryTotalBytes);
      const { cpuWeight, memoryWeight } = ctx.config.objective;
      const total = cpuWeight + memoryWeight;
      return total > 0 ? (cpuWeight * cpuHeadroom + memoryWeight * memHeadroom) / total : 0;
    },
  }),
);
