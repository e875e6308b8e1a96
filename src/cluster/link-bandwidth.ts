/**
 * What migrations between two hosts really achieved, in MiB/s: bytes moved over the job's elapsed
 * time of recent completed migrations. The technique choice hinges on the ratio of dirty rate to
 * bandwidth, and a configured guess (policy.bandwidthMiBps, 1000 by default) can be an order of
 * magnitude off a busy 1 GbE link; once a pair of hosts has been measured, the cost model uses
 * what it measured.
 */
import { MiB } from './model.js';

export interface LinkObservation {
  from: string;
  to: string;
  bytes: number;
  seconds: number;
  /** The move was encrypted (migration.tls): learned separately as well (executor/learned.ts). */
  tls?: boolean;
}

/** Small moves are dominated by fixed setup and switch-over time, not by the link. */
export const MIN_OBSERVED_BYTES = 32 * MiB;
const MIN_OBSERVED_SECONDS = 0.2;
/** The median of the last few: one migration slowed by a neighbour's backup does not steer the next. */
const KEPT_PER_LINK = 5;

export class LinkBandwidth {
  private readonly byLink = new Map<string, number[]>();

  constructor(observations: readonly LinkObservation[] = []) {
    for (const o of observations) this.observe(o);
  }

  /** Record a completed migration; ignored when too small or too short to say anything about the link. */
  observe(o: LinkObservation): void {
    if (!(o.bytes >= MIN_OBSERVED_BYTES) || !(o.seconds >= MIN_OBSERVED_SECONDS) || !o.from || !o.to) return;
    const key = `${o.from}\u0000${o.to}`;
    const kept = this.byLink.get(key) ?? [];
    kept.push(o.bytes / MiB / o.seconds);
    this.byLink.set(key, kept.slice(-KEPT_PER_LINK));
  }

  /** Median measured MiB/s from one host to another, or undefined when never measured (bound: pass it as is). */
  readonly estimateMiBps = (from: string, to: string): number | undefined => {
    const kept = this.byLink.get(`${from}\u0000${to}`);
    if (!kept || kept.length === 0) return undefined;
    const sorted = [...kept].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };

  /**
   * The median of every measured link's estimate, or undefined before any move completed: the prior
   * for a pair never measured. The hosts of one cluster usually share a network and migrate through
   * the same QEMU, so a pair measured at 70 MiB/s says more about its neighbour than
   * policy.bandwidthMiBps (1000 by default) does; the lab's links measure 60-85 MiB/s (issue 31).
   */
  readonly clusterMiBps = (): number | undefined => {
    const each = [...this.byLink.keys()].map((key) => {
      const [from, to] = key.split('\u0000');
      return this.estimateMiBps(from, to)!;
    });
    if (each.length === 0) return undefined;
    const sorted = each.sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };

  /** This pair's estimate, else the cluster's (clusterMiBps), else undefined. */
  readonly estimateOrClusterMiBps = (from: string, to: string): number | undefined => this.estimateMiBps(from, to) ?? this.clusterMiBps();

  /** Every measured link: for metrics and status. */
  links(): { from: string; to: string; mibps: number; samples: number }[] {
    return [...this.byLink.entries()].map(([key, kept]) => {
      const [from, to] = key.split('\u0000');
      return { from, to, mibps: this.estimateMiBps(from, to)!, samples: kept.length };
    });
  }
}
