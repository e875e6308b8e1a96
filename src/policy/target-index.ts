/**
 * Targets in the order the search asks for them, without scoring every host for every move.
 *
 * The exhaustive search (targets.ts) computes each host's objective gain, sorts, and hands the best
 * to the filters: O(hosts · log hosts) per move, so a plan of a thousand moves on thousands of hosts
 * took seconds. This index keeps the counted hosts (up, not in maintenance) in one segment tree per
 * capacity class (same CPU count and memory: a VM's shares are the same on each), holding per node
 * the least CPU ratio, the least CPU ratio plus forecast offset, the least memory ratio and the
 * greatest CPU p90. A move's gain only falls as a target's ratios rise (objective.ts
 * `afterAtLeast`), so a node's least ratios bound the gain of every host under it; a best-first
 * walk then yields hosts in exactly the exhaustive order — gain (or, consolidating, p90) high to
 * low, ties in the state's host order — touching O(k · log hosts) nodes for the first k hosts.
 * The planned moves update it in O(log hosts) (Projection.onHostChange).
 *
 * It only orders: every host it yields still goes through every core filter and policy, and hosts
 * the objective does not count (down, maintenance, standby) are yielded too, at their own key, so
 * any filter added later still decides about them. It skips nothing a filter could accept.
 */
import type { HostObservation, VmObservation } from '../cluster/model.js';
import type { MoveDelta } from './objective.js';
import { moveDelta, type Projection } from './projection.js';

/** The order hosts are wanted in: by the move's objective gain, or fullest (CPU p90) first. */
export type TargetOrder = 'gain' | 'fullest';

interface CapacityClass {
  /** A member, for the VM's shares on any host of the class. */
  sample: HostObservation;
  /** Members in state order, and each one's position in state.hosts. */
  hosts: HostObservation[];
  order: number[];
  size: number;
  minCpu: Float64Array;
  minCpuHot: Float64Array;
  minMemory: Float64Array;
  maxP90: Float64Array;
}

/** A heap entry: a subtree (its bound on the key) or one host (its exact key). */
interface Entry {
  key: number;
  leaf: boolean;
  cls: number;
  node: number;
  /** State order of a host (ties between hosts); 0 for a subtree. */
  order: number;
  host?: HostObservation;
  gain?: number;
}

/** Highest key first; a subtree before a host of equal key (it may hold an earlier host of that key); then state order. */
function before(a: Entry, b: Entry): boolean {
  if (a.key !== b.key) return a.key > b.key;
  if (a.leaf !== b.leaf) return !a.leaf;
  return a.order < b.order;
}

class Heap {
  private readonly items: Entry[] = [];
  get size(): number {
    return this.items.length;
  }
  push(e: Entry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): Entry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

export class TargetIndex {
  private readonly classes: CapacityClass[] = [];
  private readonly where = new Map<string, { cls: number; leaf: number }>();
  /** Hosts the objective does not count: few, yielded by their exact key from a plain list. */
  private readonly uncounted: { host: HostObservation; order: number }[] = [];

  constructor(private readonly projection: Projection) {
    const { objective, index } = projection;
    const byKey = new Map<string, number>();
    index.state.hosts.forEach((host, order) => {
      if (!objective.has(host.name)) {
        this.uncounted.push({ host, order });
        return;
      }
      const key = `${host.cpuCount}/${host.memoryTotalBytes}`;
      let c = byKey.get(key);
      if (c === undefined) {
        c = this.classes.length;
        byKey.set(key, c);
        this.classes.push({
          sample: host,
          hosts: [],
          order: [],
          size: 0,
          minCpu: new Float64Array(0),
          minCpuHot: new Float64Array(0),
          minMemory: new Float64Array(0),
          maxP90: new Float64Array(0),
        });
      }
      const cls = this.classes[c];
      this.where.set(host.name, { cls: c, leaf: cls.hosts.length });
      cls.hosts.push(host);
      cls.order.push(order);
    });
    for (const cls of this.classes) {
      let size = 1;
      while (size < cls.hosts.length) size *= 2;
      cls.size = size;
      cls.minCpu = new Float64Array(2 * size).fill(Infinity);
      cls.minCpuHot = new Float64Array(2 * size).fill(Infinity);
      cls.minMemory = new Float64Array(2 * size).fill(Infinity);
      cls.maxP90 = new Float64Array(2 * size).fill(-Infinity);
      for (let i = 0; i < cls.hosts.length; i++) this.setLeaf(cls, i, cls.hosts[i].name);
      for (let n = size - 1; n >= 1; n--) this.pull(cls, n);
    }
    projection.onHostChange((name) => this.update(name));
  }

  private setLeaf(cls: CapacityClass, i: number, name: string): void {
    const { objective } = this.projection;
    const at = cls.size + i;
    const cpu = objective.ratio('cpu', name)!;
    cls.minCpu[at] = cpu;
    cls.minCpuHot[at] = cpu + objective.cpuOffset(name)!;
    cls.minMemory[at] = objective.ratio('memory', name)!;
    cls.maxP90[at] = this.projection.host(name)!.cpuRatioP90;
  }

  private pull(cls: CapacityClass, n: number): void {
    const l = 2 * n;
    const r = l + 1;
    cls.minCpu[n] = Math.min(cls.minCpu[l], cls.minCpu[r]);
    cls.minCpuHot[n] = Math.min(cls.minCpuHot[l], cls.minCpuHot[r]);
    cls.minMemory[n] = Math.min(cls.minMemory[l], cls.minMemory[r]);
    cls.maxP90[n] = Math.max(cls.maxP90[l], cls.maxP90[r]);
  }

  /** A host's projected load changed: refresh its leaf and the path to the root (O(log hosts)). */
  update(name: string): void {
    const w = this.where.get(name);
    if (!w) return;
    const cls = this.classes[w.cls];
    this.setLeaf(cls, w.leaf, name);
    for (let n = (cls.size + w.leaf) >> 1; n >= 1; n >>= 1) this.pull(cls, n);
  }

  /**
   * Every host other than `source`, with the gain of moving `vm` there, in the exhaustive search's
   * order (`gain`: gain high to low; `fullest`: CPU p90 high to low; ties in state order), lazily.
   * Undefined when the bound does not hold for this VM (a negative or non-finite share, a negative
   * weight): the caller then searches exhaustively.
   */
  ordered(vm: VmObservation, source: HostObservation, order: TargetOrder): Iterable<{ host: HostObservation; gain: number }> | undefined {
    const { objective } = this.projection;
    const deltas: MoveDelta[] = this.classes.map((c) => moveDelta(vm, source, c.sample));
    for (const d of deltas) if (!(d.toCpu >= 0 && d.toMemory >= 0 && Number.isFinite(d.fromCpu) && Number.isFinite(d.fromMemory))) return undefined;
    const now = objective.value();
    const bounds = deltas.map((d) => objective.afterAtLeast(source.name, d));
    // Rounding: J before and after come from a few dozen float operations on sums of about
    // magnitude(), each off by at most 2^-53 of it; the bound must stay above every computed gain.
    const slack = 1e-11 * (1 + objective.magnitude());
    const gainOf = (host: HostObservation) => objective.gain(source.name, host.name, moveDelta(vm, source, host));
    const heap = new Heap();
    const subtree = (c: number, node: number) => {
      const cls = this.classes[c];
      // No host under this node (the tree's padding).
      if (cls.minCpu[node] === Infinity) return true;
      const key = order === 'fullest' ? cls.maxP90[node] : now - bounds[c](cls.minCpu[node], cls.minCpuHot[node], cls.minMemory[node]) + slack;
      if (Number.isNaN(key)) return false;
      heap.push({ key, leaf: false, cls: c, node, order: 0 });
      return true;
    };
    const leaf = (host: HostObservation, order_: number, c: number): boolean => {
      const gain = gainOf(host);
      const key = order === 'fullest' ? this.projection.host(host.name)!.cpuRatioP90 : gain;
      if (Number.isNaN(key) || Number.isNaN(gain)) return false;
      heap.push({ key, leaf: true, cls: c, node: 0, order: order_, host, gain });
      return true;
    };
    for (const u of this.uncounted) if (u.host.name !== source.name && !leaf(u.host, u.order, -1)) return undefined;
    for (let c = 0; c < this.classes.length; c++) if (this.classes[c].hosts.length > 0 && !subtree(c, 1)) return undefined;
    const classes = this.classes;
    // Checked lazily below: a NaN met mid-walk ends the walk (the caller then falls back).
    return {
      *[Symbol.iterator]() {
        for (;;) {
          const e = heap.pop();
          if (!e) return;
          if (e.leaf) {
            yield { host: e.host!, gain: e.gain! };
            continue;
          }
          const cls = classes[e.cls];
          if (e.node >= cls.size) {
            const i = e.node - cls.size;
            const host = cls.hosts[i];
            if (host && host.name !== source.name && !leaf(host, cls.order[i], e.cls)) throw new UnorderableTarget(host.name);
          } else {
            if (!subtree(e.cls, 2 * e.node)) throw new UnorderableTarget(`a subtree of class ${e.cls}`);
            if (!subtree(e.cls, 2 * e.node + 1)) throw new UnorderableTarget(`a subtree of class ${e.cls}`);
          }
        }
      },
    };
  }
}

/** A host whose key is not a number (NaN): the index cannot order it, the exhaustive search takes over. */
export class UnorderableTarget extends Error {
  constructor(what: string) {
    super(`target index: ${what} has no orderable key`);
  }
}
