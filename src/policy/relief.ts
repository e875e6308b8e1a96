/**
 * Which hosts still need relief as moves are planned: hot spots with hysteresis (a host above a
 * threshold when planning starts gives VMs away until it is that far below it) and spread sources
 * (a host more than the tolerance above the cluster mean, held for holdTicks plans, until it is
 * within the tolerance less hysteresis).
 */
import type { PolicyConfig } from '../config/policy-schema.js';
import { RESOURCES, type Resource } from './objective.js';
import { EPSILON, type Projection } from './projection.js';

/**
 * What plan() remembers from one tick to the next when the caller keeps it (the controller, the
 * simulator and the trace replay do): how many consecutive plans each host has been a spread
 * source, for policy.spread.holdTicks. A one-shot plan (the `plan` command) has none and treats the
 * hold as met, so it shows the moves `run` makes once the hold is over.
 */
/** The VM share of its source host for which spread.minGain is stated (see Relief.spreadMargin). */
export const SPREAD_REFERENCE_SHARE = 0.2;

export interface PlanMemory {
  /** Host name -> consecutive plans above the spread tolerance. */
  spreadHeldTicks: Map<string, number>;
}

export function newPlanMemory(): PlanMemory {
  return { spreadHeldTicks: new Map() };
}

/** Spread balancing as configured: the aggressiveness level's defaults, overridden by explicit knobs. */
export interface SpreadSettings {
  enabled: boolean;
  /** Per resource: points above the cluster mean (as a ratio, 0.2 = 20 points) that make a host a spread source. */
  tolerance: Record<Resource, number>;
  /** A host is a CPU spread source only above this CPU ratio (0.5 = 50 %). */
  minCpu: number;
  holdTicks: number;
  /** Per resource: objective reduction a move off a spread source of that resource must buy on top of its migration cost. */
  minGain: Record<Resource, number>;
}

interface SpreadPreset {
  tolerancePercent: number;
  memoryTolerancePercent: number;
  minCpuPercent: number;
  holdTicks: number;
  minGain: number;
  memoryMinGain: number;
}

const SPREAD_PRESETS: Record<number, SpreadPreset> = {
  1: { tolerancePercent: 100, memoryTolerancePercent: 100, minCpuPercent: 100, holdTicks: 1, minGain: 0, memoryMinGain: 0 },
  // 3 (the default) was chosen on the PlanetLab replay (five of the ten days; the runs: bench/results/history/analyses-2026-12.md):
  // below 50 % CPU a spread move bought next to no less overload on the 800-host cluster, only
  // migrations. Memory in use does not jitter as sampled CPU does, so its tolerance and margin are
  // tighter: six small VMs on one of three hosts spread whatever CPU they get.
  2: { tolerancePercent: 30, memoryTolerancePercent: 15, minCpuPercent: 60, holdTicks: 6, minGain: 0.15, memoryMinGain: 0.01 },
  // From 3 up a memory spread move buys no margin on top of its cost: the cost is already in the
  // objective's unit (move-cost.ts, policy.moveCostWeight), and an absolute margin would stop
  // small VMs on big hosts from spreading (issue 24), which the cost in host copies does not.
  3: { tolerancePercent: 20, memoryTolerancePercent: 10, minCpuPercent: 50, holdTicks: 3, minGain: 0.08, memoryMinGain: 0 },
  4: { tolerancePercent: 12, memoryTolerancePercent: 6, minCpuPercent: 30, holdTicks: 2, minGain: 0.02, memoryMinGain: 0 },
  5: { tolerancePercent: 6, memoryTolerancePercent: 3, minCpuPercent: 0, holdTicks: 1, minGain: 0.002, memoryMinGain: 0 },
};

export function spreadSettings(config: PolicyConfig): SpreadSettings {
  const s = config.spread;
  const preset = SPREAD_PRESETS[s.aggressiveness] ?? SPREAD_PRESETS[3];
  return {
    // Consolidating packs on purpose: spreading would undo it.
    enabled: s.enabled && s.aggressiveness > 1 && config.goal !== 'consolidate',
    tolerance: {
      cpu: (s.tolerancePercent ?? preset.tolerancePercent) / 100,
      memory: (s.memoryTolerancePercent ?? s.tolerancePercent ?? preset.memoryTolerancePercent) / 100,
    },
    minCpu: (s.minCpuPercent ?? preset.minCpuPercent) / 100,
    holdTicks: s.holdTicks ?? preset.holdTicks,
    minGain: { cpu: s.minGain ?? preset.minGain, memory: s.memoryMinGain ?? s.minGain ?? preset.memoryMinGain },
  };
}

export class Relief {
  readonly spread: SpreadSettings;
  private readonly hotAtStart = new Map<string, { cpu: boolean; memory: boolean }>();
  private readonly spreadAtStart = new Map<string, { resources: Resource[]; reason: string }>();
  private readonly held = new Map<string, number>();

  /** Reads the projection as it is now (call after in-flight migrations are applied); advances `memory`'s hold counts. */
  constructor(
    private readonly projection: Projection,
    config: PolicyConfig,
    private readonly memory: PlanMemory | undefined,
  ) {
    const { thresholds, objective } = projection;
    for (const h of projection.index.state.hosts) this.hotAtStart.set(h.name, projection.above(h.name, thresholds.cpuHigh, thresholds.memoryHigh));
    this.spread = spreadSettings(config);
    if (this.spread.enabled && objective.size > 1) {
      for (const h of projection.counted) {
        const resources: Resource[] = [];
        const parts: string[] = [];
        // Hysteresis across ticks: a host that was a spread source last plan (its hold met) stays
        // one until it is within the tolerance (and floor) less hysteresis, as within one plan.
        const wasSource = memory !== undefined && (memory.spreadHeldTicks.get(h.name) ?? 0) >= this.spread.holdTicks;
        const slack = wasSource ? thresholds.hysteresis : 0;
        for (const r of RESOURCES) {
          if (objective.weight(r) === 0) continue;
          const dev = objective.ratio(r, h.name)! - objective.mean(r);
          if (dev > this.spread.tolerance[r] - slack + EPSILON && (r !== 'cpu' || objective.ratio(r, h.name)! > this.spread.minCpu - slack + EPSILON)) {
            resources.push(r);
            parts.push(
              `${r === 'cpu' ? 'CPU' : 'memory'} ${(objective.ratio(r, h.name)! * 100).toFixed(0)}% is ${(dev * 100).toFixed(0)} points above the cluster mean ${(objective.mean(r) * 100).toFixed(0)}% (tolerance ${(this.spread.tolerance[r] * 100).toFixed(0)}${slack > 0 ? `, ${((this.spread.tolerance[r] - slack) * 100).toFixed(0)} while it stays a source` : ''})`,
            );
          }
        }
        if (resources.length > 0)
          this.spreadAtStart.set(h.name, {
            resources,
            reason: `spread: host ${h.name} ${parts.join(', ')}`,
          });
      }
    }
    for (const name of this.spreadAtStart.keys()) this.held.set(name, (memory?.spreadHeldTicks.get(name) ?? 0) + 1);
    if (memory) memory.spreadHeldTicks = this.held;
  }

  /** Hot at the start and still above a threshold less hysteresis in a resource that was hot. */
  needsRelief(name: string): boolean {
    const { thresholds } = this.projection;
    const hot = this.hotAtStart.get(name);
    const stillAbove = this.projection.above(name, thresholds.cpuHigh - thresholds.hysteresis, thresholds.memoryHigh - thresholds.hysteresis);
    return Boolean(hot && ((hot.cpu && stillAbove.cpu) || (hot.memory && stillAbove.memory)));
  }

  /** Why the host is a spread source whose hold is met, or undefined. */
  spreadSource(name: string): string | undefined {
    const s = this.spreadAtStart.get(name);
    if (!s) return undefined;
    if (this.memory && (this.held.get(name) ?? 0) < this.spread.holdTicks) return undefined;
    return s.reason;
  }

  /** A spread source still above the tolerance less hysteresis after the moves planned so far. */
  needsSpreadRelief(name: string): boolean {
    const s = this.spreadSource(name) && this.spreadAtStart.get(name);
    if (!s) return false;
    const { objective, thresholds } = this.projection;
    return s.resources.some((r) => objective.ratio(r, name)! - objective.mean(r) > this.spread.tolerance[r] - thresholds.hysteresis + EPSILON);
  }

  /**
   * The margin a spread move off this host must buy: the smallest among the resources that made it
   * a spread source (a host over the memory tolerance needs only the memory margin, also for a move
   * that mostly evens CPU; cooldown and the no-return rule still hold against ping-pong). The CPU
   * margin is spread.minGain times the VM's CPU share of the host over SPREAD_REFERENCE_SHARE, at
   * most 1 (memory's stays as set: its default is 0 from aggressiveness 3, the cost carries it). minGain is what a VM holding 20 % of two hosts 40 points apart gains by evening them; a VM
   * holding less can only gain in proportion, so an absolute margin would let a load carried by
   * many small VMs never spread (24 VMs at 90 % CPU stopped at 75 % against a 30 % mean) while the
   * same load in six VMs spread. Scaled, a VM of share s moves when the two hosts are more than
   * about 20 points + s apart, whatever the VMs' size.
   * `share`: the VM's share of its source host per resource (moveDelta's fromCpu / fromMemory).
   */
  spreadMargin(name: string, share: Record<Resource, number>): number {
    const s = this.spreadAtStart.get(name);
    if (!s) return 0;
    return Math.min(
      ...s.resources.map((r) =>
        r === 'cpu' ? this.spread.minGain.cpu * Math.min(1, Math.max(0, share.cpu) / SPREAD_REFERENCE_SHARE) : this.spread.minGain[r],
      ),
    );
  }

  /**
   * Why a spread move would make its target a spread source itself, or undefined: the target's
   * ratio after the move (`after`, per resource) above the cluster mean by more than the tolerance
   * (and, for CPU, above spread.minCpuPercent) in one of `resources`. Such a move only shifts the
   * spread to another host, which the next plans move off again: on the PlanetLab replay
   * (overcommitted-200, 20110322, issue 26) VMs spread onto host0183 left it at 65-70 % and were
   * spread off it again within five samples, two migrations for the spread of one.
   */
  spreadTargetRefusal(target: string, after: Record<Resource, number>, resources: readonly Resource[]): string | undefined {
    const { objective } = this.projection;
    if (!objective.has(target)) return undefined;
    for (const r of resources) {
      const dev = after[r] - objective.mean(r);
      if (dev > this.spread.tolerance[r] + EPSILON && (r !== 'cpu' || after[r] > this.spread.minCpu + EPSILON))
        return `${target} would become a spread source itself (${r === 'cpu' ? 'CPU' : 'memory'} ${(after[r] * 100).toFixed(0)}%, ${(dev * 100).toFixed(0)} points above the cluster mean, tolerance ${(this.spread.tolerance[r] * 100).toFixed(0)})`;
    }
    return undefined;
  }

  /** The resources that made the host a spread source (empty when it is not one). */
  spreadResources(name: string): readonly Resource[] {
    return this.spreadAtStart.get(name)?.resources ?? [];
  }

  /** Spread sources still waiting for their hold, with why (shown in the plan). */
  waiting(): { host: string; reason: string }[] {
    return [...this.spreadAtStart.keys()]
      .filter((name) => !this.spreadSource(name))
      .map((name) => ({
        host: name,
        reason: `${this.spreadAtStart.get(name)!.reason}; held ${this.held.get(name)} of ${this.spread.holdTicks} ticks (policy.spread.holdTicks) before spread moves start`,
      }));
  }
}
