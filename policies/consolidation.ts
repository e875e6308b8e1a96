/**
 * Consolidation (policy.goal: consolidate, or listed by name): pack VMs onto fewer hosts so that
 * emptied hosts can be powered down (docs/policies.md).
 *
 * - select: hosts below cpuLowPercent, smallest (then lightest) first, are emptied when every VM
 *   on them can move now (running, out of its cooldown, not pinned or ignored) and a trial packing
 *   puts them all on other running hosts under consolidation.targetUtilizationPercent; a host
 *   that fails the trial keeps its VMs (no half-emptied host). Their VMs are `pack` candidates:
 *   judged by filters and scores, not by the balance objective; cooldown and no-ping-pong apply.
 * - Forecast (Beloglazov & Buyya's LR lesson): hosts are judged on their CPU forecast
 *   consolidation.forecastAheadTicks ahead (least-squares line over the window), never below the
 *   window's p90, so a host whose load is rising is not emptied and a rising target takes less.
 * - filter: a packing move goes only to a host that runs VMs (it never wakes one) and is not
 *   being emptied; any move's target stays under the target utilisation.
 * - score: the fullest target after the move first; among empty hosts (woken for relief), the
 *   largest first.
 */
import { p90Of, sumWindows } from '../src/cluster/window.js';
import { definePolicy, ordinaryMemoryBytes, type HostObservation, type PolicyContext, type VmObservation, unknownOptionProblems } from '../src/policy/api.js';
import { type HeadroomHost, headroomShortfall } from '../src/policy/headroom.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

/** Hosts being emptied in one plan (keyed by the plan's state object, so plans never mix). */
const emptying = new WeakMap<object, Set<string>>();

/**
 * A VM's CPU as a share of a host's capacity at its peak over the window (the cautious view). The
 * trial adds several VMs to a host's load: p90(H) + max(V1) + max(V2) + ... is a sound upper bound
 * of the p90 of their per-instant sum (a quantile is monotone), where adding their p90s is not
 * (issue 24). With the window's samples unknown, its p90 (the maximum of under ten samples).
 */
function vmPeakShare(vm: VmObservation, host: HostObservation): number {
  const w = vm.cpuUtilization;
  const peak = w.series && w.series.length > 0 ? Math.max(...w.series) : Math.max(w.p90, w.mean);
  return host.cpuCount > 0 ? (peak * vm.vcpus) / host.cpuCount : 0;
}

/** The host's load as planned so far, raised by its rising trend (LR over the window) `aheadTicks` ahead. */
export function forecastLoad(ctx: PolicyContext, hostName: string): number {
  const p = ctx.projected(hostName);
  if (!p) return 0;
  const w = p.host.cpuUtilization;
  const ahead = ctx.config.consolidation.forecastAheadTicks;
  const rise = w.samples >= 2 && w.slopePerSample !== undefined ? Math.max(0, w.slopePerSample * ((w.samples - 1) / 2 + ahead)) : 0;
  return Math.max(p.cpuRatioP90, p.cpuRatio + rise);
}

/**
 * consolidation.packing summed-window: the load a host window (CPU ratio per sample, oldest first)
 * stands for, `aheadTicks` ahead: its p90, or its least-squares line extended `aheadTicks` past the
 * newest sample when that is higher (a rising trend; a falling one is not trusted). The same form
 * as forecastLoad, applied to a window with VMs added. 0 for an empty window.
 */
export function windowForecast(series: readonly number[], aheadTicks: number): number {
  const n = series.length;
  if (n === 0) return 0;
  const mean = series.reduce((a, b) => a + b, 0) / n;
  let rise = 0;
  if (n >= 2) {
    let sxy = 0;
    let sxx = 0;
    for (let i = 0; i < n; i++) {
      const x = i - (n - 1) / 2;
      sxy += x * (series[i] - mean);
      sxx += x * x;
    }
    rise = Math.max(0, (sxy / sxx) * ((n - 1) / 2 + aheadTicks));
  }
  return Math.max(p90Of(series), mean + rise);
}

/** `series` with the VM's window added per instant at its share of `host` (aligned at the newest sample). */
function withVm(series: readonly number[], vm: VmObservation, host: HostObservation): number[] {
  const weight = host.cpuCount > 0 ? vm.vcpus / host.cpuCount : 0;
  const added = sumWindows([{ window: vm.cpuUtilization, weight }], series.length);
  return series.map((v, i) => v + added[i]);
}

/**
 * The host's judged load with `vm` added (plus what `planned` already adds), per
 * consolidation.packing: `vm-peaks` adds the VM's window peak to forecastLoad; `summed-window`
 * judges the per-instant sum of the windows (windowForecast), falling back to `vm-peaks` when the
 * host's window carries no series.
 */
export function loadWith(ctx: PolicyContext, host: HostObservation, vm: VmObservation, planned?: { peaks: number; series?: number[] }): number {
  const p = ctx.projected(host.name);
  if (ctx.config.consolidation.packing === 'summed-window' && p?.cpuSeries && p.cpuSeries.length > 0) {
    const base = planned?.series ?? p.cpuSeries;
    return windowForecast(withVm(base, vm, host), ctx.config.consolidation.forecastAheadTicks);
  }
  return forecastLoad(ctx, host.name) + (planned?.peaks ?? 0) + vmPeakShare(vm, host);
}

function movableNow(vm: VmObservation, ctx: PolicyContext): boolean {
  if (vm.state !== 'running' && vm.state !== 'blocked') return false;
  if (vm.jobRunning || ctx.config.pinnedVms.includes(vm.name) || ctx.config.ignoredVms.includes(vm.name)) return false;
  const movedAt = ctx.state.lastMovedAtMs[vm.uuid];
  return movedAt === undefined || ctx.nowMs - movedAt >= ctx.config.cooldownSeconds * 1000;
}

/**
 * Why the hosts would lack the failover headroom with `emptied` gone and the VMs packed so far
 * (`moved`) and in this trial where they go; undefined when they keep it or none is configured.
 */
function headroomAfterEmptying(
  ctx: PolicyContext,
  emptied: readonly string[],
  trial: readonly { vm: VmObservation; to: HostObservation }[],
  moved: ReadonlyMap<string, string>,
): string | undefined {
  const k = ctx.config.headroom.hostFailures;
  if (k <= 0) return undefined;
  const goes = new Map(moved);
  for (const { vm, to } of trial) goes.set(vm.uuid, to.name);
  const gone = new Set(emptied);
  const byHost = new Map<string, VmObservation[]>();
  for (const h of ctx.state.hosts)
    for (const vm of ctx.vmsOn(h.name)) {
      const at = goes.get(vm.uuid) ?? ctx.placeOf(vm.uuid) ?? vm.host;
      const list = byHost.get(at);
      if (list) list.push(vm);
      else byHost.set(at, [vm]);
    }
  const hosts: HeadroomHost[] = ctx.state.hosts.map((h) => {
    const vms = byHost.get(h.name) ?? [];
    return {
      // An empty host is one consolidation emptied (this tick or before) to power it down: no room
      // for a failed host's VMs, whether it went this tick or an earlier one (one rule every tick).
      host: gone.has(h.name) || vms.length === 0 ? { ...h, up: false } : h,
      placedMemoryBytes: vms.reduce((sum, v) => sum + ordinaryMemoryBytes(v), 0),
      vcpus: vms.reduce((sum, v) => sum + v.vcpus, 0),
      vms: () => vms,
    };
  });
  return headroomShortfall(hosts, k);
}

const active = (ctx: PolicyContext, h: HostObservation) => h.up && !h.maintenance && (ctx.projected(h.name)?.vmUuids.size ?? 0) > 0;

export default registerBuiltinPolicy(
  definePolicy({
    name: 'consolidation',
    // Takes no options: a typo meant for another policy is refused when it loads.
    checkOptions: (options) => unknownOptionProblems(options, []),
    description: 'Pack VMs onto fewer hosts up to a target utilisation so emptied hosts can be powered down',
    // The packing target is a preference: a must-move (maintenance, a broken rule) goes past it.
    softFilter: true,
    select(ctx) {
      const target = ctx.config.consolidation.targetUtilizationPercent / 100;
      const hosts = ctx.state.hosts.filter((h) => active(ctx, h));
      const out = new Set<string>();
      emptying.set(ctx.state, out);
      if (hosts.length < 2) return [];
      // Trial loads of every running host; hosts that receive VMs this tick are not emptied.
      const load = new Map(hosts.map((h) => [h.name, forecastLoad(ctx, h.name)]));
      const memory = new Map(hosts.map((h) => [h.name, ctx.projected(h.name)!.memoryUsedBytes]));
      const vcpus = new Map(hosts.map((h) => [h.name, ctx.projected(h.name)!.vcpus]));
      const receiving = new Set<string>();
      // consolidation.packing summed-window: each running host's window as the trial fills it.
      const summed = ctx.config.consolidation.packing === 'summed-window';
      const series = new Map<string, number[] | undefined>(hosts.map((h) => [h.name, summed ? ctx.projected(h.name)!.cpuSeries : undefined]));
      const light = hosts
        .filter((h) => load.get(h.name)! < ctx.thresholds.cpuLow)
        // Smallest hosts first, then the lightest: big hosts keep the load (on the PlanetLab replay
        // this saved 3 % energy on 20110303 at the same overload, the G5s doing more per watt).
        .sort((a, b) => a.cpuCount - b.cpuCount || load.get(a.name)! - load.get(b.name)!);
      // Fullest first, sorted once (re-sorting per source costs too much at hundreds of hosts; the
      // order only drifts as receivers fill, which first-fit tolerates).
      const byLoad = [...hosts].sort((a, b) => load.get(b.name)! - load.get(a.name)!);
      // Hosts each VM left lately, once (the engine refuses a move back within 3 x cooldown: no ping-pong).
      const leftBy = new Map<string, Set<string>>();
      for (const m of ctx.state.recentMoves) {
        if (ctx.nowMs - m.atMs >= ctx.config.cooldownSeconds * 3000) continue;
        leftBy.set(m.vmUuid, (leftBy.get(m.vmUuid) ?? new Set()).add(m.from));
      }
      const candidates = [];
      // VMs this select has packed so far: uuid -> the host they go to.
      const moved = new Map<string, string>();
      for (const source of light) {
        if (receiving.has(source.name)) continue;
        const vms = ctx.vmsOn(source.name).filter((v) => ctx.placeOf(v.uuid) === source.name);
        if (vms.length === 0 || !vms.every((v) => movableNow(v, ctx))) continue;
        // Trial: biggest VM first onto the fullest host that keeps it under the target.
        const trial: { vm: VmObservation; to: HostObservation }[] = [];
        const order = [...vms].sort((a, b) => vmPeakShare(b, source) - vmPeakShare(a, source));
        const added = new Map<string, { cpu: number; memory: number; vcpus: number; series?: number[] }>();
        let ok = true;
        for (const vm of order) {
          const left = leftBy.get(vm.uuid);
          let judged = 0;
          const to = byLoad.find((h) => {
            if (h.name === source.name || out.has(h.name) || left?.has(h.name)) return false;
            const a = added.get(h.name) ?? { cpu: 0, memory: 0, vcpus: 0, series: series.get(h.name) };
            if (memory.get(h.name)! + a.memory + ordinaryMemoryBytes(vm) > h.memoryTotalBytes * h.memoryOvercommitRatio) return false;
            if (vcpus.get(h.name)! + a.vcpus + vm.vcpus > h.cpuCount * h.cpuOvercommitRatio) return false;
            judged = summed ? loadWith(ctx, h, vm, { peaks: a.cpu, series: a.series }) : load.get(h.name)! + a.cpu + vmPeakShare(vm, h);
            return judged <= target;
          });
          if (!to) {
            ok = false;
            break;
          }
          const a = added.get(to.name) ?? { cpu: 0, memory: 0, vcpus: 0, series: series.get(to.name) };
          const grown = summed && a.series ? withVm(a.series, vm, to) : undefined;
          added.set(to.name, {
            cpu: summed ? judged - load.get(to.name)! : a.cpu + vmPeakShare(vm, to),
            memory: a.memory + ordinaryMemoryBytes(vm),
            vcpus: a.vcpus + vm.vcpus,
            series: grown,
          });
          trial.push({ vm, to });
        }
        if (!ok) continue;
        // Failover headroom (policy.headroom): an emptied host is powered down, so the hosts left
        // must still take a failed host's VMs; past that point no further host is emptied.
        const short = headroomAfterEmptying(ctx, [...out, source.name], trial, moved);
        if (short) {
          ctx.notice(`not emptying ${source.name} or any further host: without it ${short}`);
          break;
        }
        for (const { vm, to } of trial) moved.set(vm.uuid, to.name);
        for (const [name, a] of added) {
          load.set(name, load.get(name)! + a.cpu);
          memory.set(name, memory.get(name)! + a.memory);
          vcpus.set(name, vcpus.get(name)! + a.vcpus);
          if (a.series) series.set(name, a.series);
          receiving.add(name);
        }
        out.add(source.name);
        const reason = `consolidate: host ${source.name} CPU ${(load.get(source.name)! * 100).toFixed(0)}% (forecast) < ${(ctx.thresholds.cpuLow * 100).toFixed(0)}%, its ${vms.length} VM(s) fit on other hosts under ${(target * 100).toFixed(0)}%`;
        for (const { vm } of trial) candidates.push({ vm, reason, pack: true });
      }
      return candidates;
    },
    filter(vm, host, ctx) {
      const target = ctx.config.consolidation.targetUtilizationPercent / 100;
      const p = ctx.projected(host.name)!;
      const out = emptying.get(ctx.state);
      if (out?.has(host.name)) return `${host.name} is itself being emptied`;
      const source = ctx.placeOf(vm.uuid);
      const packing = source !== undefined && out?.has(source);
      if (packing && p.vmUuids.size === 0) return `${host.name} runs no VM (packing does not wake a host)`;
      const after = loadWith(ctx, host, vm);
      return after <= target
        ? true
        : `${host.name} would reach CPU ${(after * 100).toFixed(0)}% (forecast), over the consolidation target ${(target * 100).toFixed(0)}%`;
    },
    score(vm, host, ctx) {
      const p = ctx.projected(host.name)!;
      const biggest = Math.max(...ctx.state.hosts.map((h) => h.cpuCount), 1);
      if (p.vmUuids.size === 0) return 0.1 * (host.cpuCount / biggest);
      return 0.1 + 0.9 * Math.min(1, loadWith(ctx, host, vm));
    },
  }),
);
