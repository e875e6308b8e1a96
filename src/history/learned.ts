/**
 * What planning learns from past migrations, rebuilt from the journal at start and updated with
 * every outcome: the bandwidth each pair of hosts really achieved (link-bandwidth.ts), the cost
 * model's calibration (policy/calibration.ts) and each VM's memory that was not zero pages when it
 * last moved (what its next move must send). One place, so `run`, `plan`, `drain` and `migrate`
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
  /** Per VM UUID: its memory that was not zero pages at its last completed move, bytes (libvirt's job stats). */
  private readonly nonzeroMemory = new Map<string, number>();

  constructor(entries: readonly JournalEntry[] = []) {
    const observations = linkObservations(entries);
    this.links = new LinkBandwidth(observations);
    this.tlsLinks = new LinkBandwidth(observations.filter((o) => o.tls));
    this.calibration = new PredictionCalibration(calibrationSamples(entries));
    for (const e of entries)
      if (e.type === 'outcome' && e.outcome === 'completed' && e.nonzeroMemoryBytes !== undefined) this.nonzeroMemory.set(e.vmUuid, e.nonzeroMemoryBytes);
  }

  /**
   * The VM's memory that was not zero pages when it last moved, bytes, or undefined when it never
   * moved (or libvirt gave no zero-page count): the cost model's memory that must move
   * (policy/move-inputs.ts), which neither the configured memory nor the QEMU process's RSS says.
   */
  readonly nonzeroMemoryBytes = (vmUuid: string): number | undefined => this.nonzeroMemory.get(vmUuid);

  /** Learn from one result (only completed moves teach anything). */
  observe(r: MoveOutcome): void {
    if (r.outcome !== 'completed') return;
    if (r.nonzeroMemoryBytes !== undefined) this.nonzeroMemory.set(r.vmUuid, r.nonzeroMemoryBytes);
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
    nonzeroMemoryBytes: (vmUuid: string) => number | undefined;
  } {
    // A pair never measured is planned with what the cluster's other pairs achieved, not the configured guess.
    const linkBandwidthMiBps =
      migration.tls === 'off'
        ? this.links.estimateOrClusterMiBps
        : (from: string, to: string) =>
            this.tlsLinks.estimateMiBps(from, to) ?? this.links.estimateMiBps(from, to) ?? this.tlsLinks.clusterMiBps() ?? this.links.clusterMiBps();
    return {
      linkBandwidthMiBps,
      calibration: this.calibration.factors,
      tunables: tunablesFromMigrationConfig(migration),
      nonzeroMemoryBytes: this.nonzeroMemoryBytes,
    };
  }
}
