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
  /** Points above the cluster mean (as a ratio, 0.2 = 20 points) that make a host a spread source. */
  tolerance: number;
  holdTicks: number;
  /** Objective reduction a spread move must buy on top of its migration cost. */
  minGain: number;
}

const SPREAD_PRESETS: Record<number, { tolerancePercent: number; holdTicks: number; minGain: number }> = {
  1: { tolerancePercent: 100, holdTicks: 1, minGain: 0 },
  // 3 (the default) was chosen on the PlanetLab replay (docs/benchmarks.md): a smaller margin
  // bought little less overload for many more migrations on the 800-host cluster.
  2: { tolerancePercent: 30, holdTicks: 6, minGain: 0.15 },
  3: { tolerancePercent: 20, holdTicks: 3, minGain: 0.08 },
  4: { tolerancePercent: 12, holdTicks: 2, minGain: 0.02 },
  5: { tolerancePercent: 6, holdTicks: 1, minGain: 0.002 },
};

export function spreadSettings(config: PolicyConfig): SpreadSettings {
  const s = config.spread;
  const preset = SPREAD_PRESETS[s.aggressiveness] ?? SPREAD_PRESETS[3];
  return {
    // Consolidating packs on purpose: spreading would undo it.
    enabled: s.enabled && s.aggressiveness > 1 && config.goal !== 'consolidate',
    tolerance: (s.tolerancePercent ?? preset.tolerancePercent) / 100,
    holdTicks: s.holdTicks ?? preset.holdTicks,
    minGain: s.minGain ?? preset.minGain,
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
        for (const r of RESOURCES) {
          if (objective.weight(r) === 0) continue;
          const dev = objective.ratio(r, h.name)! - objective.mean(r);
          if (dev > this.spread.tolerance + EPSILON) {
            resources.push(r);
            parts.push(
              `${r === 'cpu' ? 'CPU' : 'memory'} ${(objective.ratio(r, h.name)! * 100).toFixed(0)}% is ${(dev * 100).toFixed(0)} points above the cluster mean ${(objective.mean(r) * 100).toFixed(0)}%`,
            );
          }
        }
        if (resources.length > 0)
          this.spreadAtStart.set(h.name, {
            resources,
            reason: `spread: host ${h.name} ${parts.join(', ')} (tolerance ${(this.spread.tolerance * 100).toFixed(0)})`,
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
    return s.resources.some((r) => objective.ratio(r, name)! - objective.mean(r) > this.spread.tolerance - thresholds.hysteresis + EPSILON);
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
