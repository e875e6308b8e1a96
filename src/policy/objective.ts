/**
 * The one objective the engine minimises (docs/policies.md, "What the engine minimises"):
 *
 *   J = Σ_r w_r · ( Σ_h (u_rh − ū_r)²  +  P · Σ_h max(0, u_rh + f_rh − θ_r)² )
 *
 * over the resources r ∈ {cpu, memory} and the hosts h that are up and not in maintenance, where
 * u_rh is the host's use of r as a ratio of what it offers guests (CPU: smoothed mean of demand
 * over its CPUs; memory: used over total), ū_r the mean over those hosts, θ_r the high threshold
 * (cpuHighPercent, memoryHighPercent), f_rh the CPU forecast offset (0 unless policy.forecast is
 * on; always 0 for memory), w_r the weights of policy.objective and P its hotSpotWeight.
 * The first sum is the spread (sum of squared deviations: a move's gain on it does not shrink as
 * the cluster grows), the second the hot spots. Every update is O(1), so trying a target is cheap
 * even with thousands of hosts.
 */

export type Resource = 'cpu' | 'memory';
export const RESOURCES: readonly Resource[] = ['cpu', 'memory'];

/** Weights of the objective: per resource, and of the hot-spot term against the spread term. */
export interface ObjectiveWeights {
  cpu: number;
  memory: number;
  hotSpot: number;
}

/** One host's load as the objective sees it (ratios 0..1+). */
export interface ObjectiveHost {
  name: string;
  cpu: number;
  memory: number;
  /** Added to the CPU ratio in the hot-spot term only (forecast minus smoothed mean, >= 0). */
  cpuForecastOffset: number;
}

/** What a move changes, as ratios of the two hosts' capacities. */
export interface MoveDelta {
  fromCpu: number;
  toCpu: number;
  fromMemory: number;
  toMemory: number;
}

interface Totals {
  sum: number;
  sumSq: number;
  hot: number;
}

export class Objective {
  private readonly index = new Map<string, number>();
  private readonly u: Record<Resource, Float64Array>;
  private readonly offset: Float64Array;
  private readonly totals: Record<Resource, Totals> = { cpu: { sum: 0, sumSq: 0, hot: 0 }, memory: { sum: 0, sumSq: 0, hot: 0 } };

  /**
   * @param hosts the hosts that count (up, not in maintenance); others are ignored by every method.
   * @param thresholds θ per resource, as ratios.
   */
  constructor(
    hosts: readonly ObjectiveHost[],
    private readonly weights: ObjectiveWeights,
    private readonly thresholds: Record<Resource, number>,
  ) {
    this.u = { cpu: new Float64Array(hosts.length), memory: new Float64Array(hosts.length) };
    this.offset = new Float64Array(hosts.length);
    hosts.forEach((h, i) => {
      this.index.set(h.name, i);
      this.u.cpu[i] = h.cpu;
      this.u.memory[i] = h.memory;
      this.offset[i] = h.cpuForecastOffset;
      for (const r of RESOURCES) {
        const v = this.u[r][i];
        this.totals[r].sum += v;
        this.totals[r].sumSq += v * v;
        this.totals[r].hot += this.excess(r, i, v);
      }
    });
  }

  get size(): number {
    return this.index.size;
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  /** The host's current (planned) ratio of a resource; undefined for a host that does not count. */
  ratio(r: Resource, name: string): number | undefined {
    const i = this.index.get(name);
    return i === undefined ? undefined : this.u[r][i];
  }

  mean(r: Resource): number {
    return this.size === 0 ? 0 : this.totals[r].sum / this.size;
  }

  weight(r: Resource): number {
    return this.weights[r];
  }

  private excess(r: Resource, i: number, value: number): number {
    const e = value + (r === 'cpu' ? this.offset[i] : 0) - this.thresholds[r];
    return e > 0 ? e * e : 0;
  }

  private valueOf(totals: Record<Resource, Totals>, only: readonly Resource[] = RESOURCES): number {
    const n = this.size;
    if (n === 0) return 0;
    let j = 0;
    for (const r of only) {
      const w = this.weights[r];
      if (w === 0) continue;
      const t = totals[r];
      j += w * (Math.max(0, t.sumSq - (t.sum * t.sum) / n) + this.weights.hotSpot * t.hot);
    }
    return j;
  }

  /** J now. */
  value(): number {
    return this.valueOf(this.totals);
  }

  private shifted(from: string, to: string, d: MoveDelta): Record<Resource, Totals> {
    const out = { cpu: { ...this.totals.cpu }, memory: { ...this.totals.memory } };
    const fi = this.index.get(from);
    const ti = this.index.get(to);
    for (const r of RESOURCES) {
      const t = out[r];
      const values = this.u[r];
      if (fi !== undefined) {
        const before = values[fi];
        const after = before - (r === 'cpu' ? d.fromCpu : d.fromMemory);
        t.sum += after - before;
        t.sumSq += after * after - before * before;
        t.hot += this.excess(r, fi, after) - this.excess(r, fi, before);
      }
      if (ti !== undefined) {
        const before = values[ti];
        const after = before + (r === 'cpu' ? d.toCpu : d.toMemory);
        t.sum += after - before;
        t.sumSq += after * after - before * before;
        t.hot += this.excess(r, ti, after) - this.excess(r, ti, before);
      }
    }
    return out;
  }

  /** J if `from` lost and `to` gained a VM's load (a host that does not count is ignored). */
  after(from: string, to: string, d: MoveDelta): number {
    return this.valueOf(this.shifted(from, to, d));
  }

  /** The CPU forecast offset of a counted host (added in the hot-spot term only); undefined for a host that does not count. */
  cpuOffset(name: string): number | undefined {
    const i = this.index.get(name);
    return i === undefined ? undefined : this.offset[i];
  }

  /**
   * For a move off `from` with the shares `d` (toCpu, toMemory >= 0) on the target: a function
   * giving the lowest J after that move onto any counted host whose ratios are at least the ones
   * passed (CPU, CPU plus its forecast offset, memory). J after grows with each of those ratios (the
   * spread term by 2·u·d + d², the hot-spot term by the growth of a convex excess), so
   * `value() - bound(...)` bounds the gain of every such host from above (target-index.ts prunes
   * with it). Float rounding aside: callers add a slack (see magnitude()).
   */
  afterAtLeast(from: string, d: MoveDelta): (cpu: number, cpuHot: number, memory: number) => number {
    const base = this.shifted(from, '', { ...d, toCpu: 0, toMemory: 0 });
    const n = this.size;
    const { cpu: wCpu, memory: wMemory, hotSpot } = this.weights;
    const thetaCpu = this.thresholds.cpu;
    const thetaMemory = this.thresholds.memory;
    const addCpu = d.toCpu;
    const addMemory = d.toMemory;
    const sumCpu = base.cpu.sum + addCpu;
    const sumMemory = base.memory.sum + addMemory;
    const over = (x: number, theta: number) => (x > theta ? (x - theta) * (x - theta) : 0);
    return (cpu, cpuHot, memory) => {
      if (n === 0) return 0;
      let j = 0;
      if (wCpu !== 0) {
        const sumSq = base.cpu.sumSq + (cpu + addCpu) * (cpu + addCpu) - cpu * cpu;
        const hot = base.cpu.hot + over(cpuHot + addCpu, thetaCpu) - over(cpuHot, thetaCpu);
        j += wCpu * (Math.max(0, sumSq - (sumCpu * sumCpu) / n) + hotSpot * hot);
      }
      if (wMemory !== 0) {
        const sumSq = base.memory.sumSq + (memory + addMemory) * (memory + addMemory) - memory * memory;
        const hot = base.memory.hot + over(memory + addMemory, thetaMemory) - over(memory, thetaMemory);
        j += wMemory * (Math.max(0, sumSq - (sumMemory * sumMemory) / n) + hotSpot * hot);
      }
      return j;
    };
  }

  /** A scale of J's terms (for float slack: rounding errors grow with the sums J is computed from). */
  magnitude(): number {
    let m = Math.abs(this.value());
    for (const r of RESOURCES)
      m +=
        Math.abs(this.weights[r]) *
        (Math.abs(this.totals[r].sumSq) + this.totals[r].sum ** 2 / Math.max(1, this.size) + Math.abs(this.weights.hotSpot * this.totals[r].hot));
    return m;
  }

  /**
   * J now minus J after the move: positive when the move helps. `only` restricts J to some
   * resources (a spread move is judged on the resources its source is a spread source in).
   */
  gain(from: string, to: string, d: MoveDelta, only: readonly Resource[] = RESOURCES): number {
    return this.valueOf(this.totals, only) - this.valueOf(this.shifted(from, to, d), only);
  }

  /** Commit a move to the projection. */
  apply(from: string, to: string, d: MoveDelta): void {
    const shifted = this.shifted(from, to, d);
    const fi = this.index.get(from);
    const ti = this.index.get(to);
    if (fi !== undefined) {
      this.u.cpu[fi] -= d.fromCpu;
      this.u.memory[fi] -= d.fromMemory;
    }
    if (ti !== undefined) {
      this.u.cpu[ti] += d.toCpu;
      this.u.memory[ti] += d.toMemory;
    }
    this.totals.cpu = shifted.cpu;
    this.totals.memory = shifted.memory;
  }

  /** Population standard deviation of host CPU ratios: the imbalance the plan and the metric report. */
  cpuStdDev(): number {
    const n = this.size;
    if (n === 0) return 0;
    const t = this.totals.cpu;
    return Math.sqrt(Math.max(0, t.sumSq - (t.sum * t.sum) / n) / n);
  }
}
