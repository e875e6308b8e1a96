/**
 * What planning learns from past migrations, rebuilt from the journal at start and updated with
 * every outcome: the bandwidth each pair of hosts really achieved (link-bandwidth.ts) and the cost
 * model's calibration (policy/calibration.ts). One place, so `run`, `plan`, `drain` and `migrate`
 * plan with the same knowledge.
 */
import { LinkBandwidth } from '../cluster/link-bandwidth.js';
import type { MigrationConfig } from '../config/migration-schema.js';
import { PredictionCalibration } from '../policy/calibration.js';
import { tunablesFromMigrationConfig, type ChooserTunables } from '../policy/chooser.js';
import type { Technique } from '../policy/plan-types.js';
import { calibrationSampleOf, calibrationSamples, linkObservations, type JournalEntry } from './journal.js';
import type { MoveOutcome } from './decision-history.js';

export class LearnedFromMigrations {
  /** Every completed move's throughput per pair, encrypted or not (what the metrics and `migrate` show). */
  readonly links: LinkBandwidth;
  /**
   * Encrypted moves only: with migration.tls on, a pair measured under TLS is planned with that
   * figure (TLS costs throughput where a stream is CPU-bound); a pair never moved under TLS falls
   * back to `links`, and the chooser's tlsThroughputFactor caps the stream instead.
   */
  readonly tlsLinks: LinkBandwidth;
  readonly calibration: PredictionCalibration;

  constructor(entries: readonly JournalEntry[] = []) {
    const observations = linkObservations(entries);
    this.links = new LinkBandwidth(observations);
    this.tlsLinks = new LinkBandwidth(observations.filter((o) => o.tls));
    this.calibration = new PredictionCalibration(calibrationSamples(entries));
  }

  /** Learn from one result (only completed moves teach anything). */
  observe(r: MoveOutcome): void {
    if (r.outcome !== 'completed') return;
    if (r.bytes !== undefined) {
      const o = { from: r.from, to: r.to, bytes: r.bytes, seconds: r.totalMs / 1000, tls: r.tls === true };
      this.links.observe(o);
      if (o.tls) this.tlsLinks.observe(o);
    }
    if (!r.adoptedAfterRestart) {
      this.calibration.observe(calibrationSampleOf(r));
    }
  }

  /** The plan() options this knowledge feeds, with the cost model's tunables from the migration config. */
  planOptions(migration: MigrationConfig): {
    linkBandwidthMiBps: (from: string, to: string) => number | undefined;
    calibration: (from: string, to: string, technique: Technique) => { timeFactor: number; downtimeFactor: number };
    tunables: Partial<ChooserTunables>;
  } {
    // A pair never measured is planned with what the cluster's other pairs achieved, not the configured guess.
    const linkBandwidthMiBps =
      migration.tls === 'off'
        ? this.links.estimateOrClusterMiBps
        : (from: string, to: string) =>
            this.tlsLinks.estimateMiBps(from, to) ?? this.links.estimateMiBps(from, to) ?? this.tlsLinks.clusterMiBps() ?? this.links.clusterMiBps();
    return { linkBandwidthMiBps, calibration: this.calibration.factors, tunables: tunablesFromMigrationConfig(migration) };
  }
}
