/**
 * Holding the operator's bandwidth cap over a whole move once post-copy runs (and through a multifd move).
 *
 * Why QEMU's own limit is not enough:
 * - libvirt 11.3 turns QEMU's `postcopy-preempt` capability on by itself whenever
 *   VIR_MIGRATE_POSTCOPY is asked and both QEMUs support it; no flag or parameter turns it off
 *   (libvirt src/qemu/qemu_migration_params.c, qemuMigrationParamsFlagMap: the VIR_MIGRATE_POSTCOPY
 *   entry has `.optional = QEMU_MIGRATION_CAP_POSTCOPY_PREEMPT`).
 * - QEMU 10.0 sends the pages a faulting vCPU asks for whatever the limit: its send loop runs
 *   `while (migration_rate_exceeded(f) == 0 || postcopy_has_request(rs))` (migration/ram.c,
 *   ram_save_iterate), and with preempt they go on their own channel. So `max-postcopy-bandwidth`
 *   limits only the background pages: in the lab a 16 MiB/s cap gave 26.7 MiB/s over a pure
 *   post-copy, and the bench saw 59-64 MiB/s under 48.
 * - `max-postcopy-bandwidth` can be changed during post-copy and takes effect at once (QEMU
 *   migration/options.c migrate_params_apply: `if (s->to_dst_file && migration_in_postcopy())
 *   migration_rate_set(...)`), through virDomainMigrateSetMaxSpeed with
 *   VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY (libvirt qemu_driver.c qemuDomainMigrateSetMaxSpeed, in
 *   whole MiB/s; 0 would mean unlimited to QEMU, so it is never sent).
 *
 * So the governor is feedback on the job's own figures (data_processed and time_elapsed, the same
 * figures the move's result is reported with): at each sample after the switch it plans the next
 * `horizonSeconds` so that the bytes sent since the move's start stay within `targetRatio` × cap ×
 * elapsed, and gives the background limit what is left after the rate the urgent pages added over
 * the last interval (the measured rate above the limit then in force). Pure, so it is unit-tested;
 * adapt.ts applies its answers.
 *
 * A switch after pre-copy (hybrid) needs more: the pages left at the switch are mostly the ones the
 * guest is writing, so they come as urgent pages within a second or so whatever the limit (hybrid
 * moves ran at 1.13x a 16 MiB/s cap over the whole move in the lab). `switchFits` tells whether the
 * budget can take all the bytes left now; until it can, the adapter runs pre-copy at
 * HOLD_PRECOPY_FRACTION of the cap (virDomainMigrateSetMaxSpeed without flags: QEMU's max-bandwidth)
 * to build that room, for at most MAX_SWITCH_HOLD_SECONDS.
 *
 * Multifd under a cap uses the same feedback on pre-copy's max-bandwidth: technique-params.ts
 * splits the cap over the channels (QEMU 10.0 once let 2 channels reach 30 MiB/s under 16), which
 * alone held the lab's moves to 0.6-0.8 of the cap, and a guest dirtying half the cap never
 * converged (issue 31's oracle grid). The governor starts from the split limit and raises it while
 * the move's bytes stay within the cap; what goes past the limit in force is read as the channels'
 * excess, as urgent pages are after a switch. In the lab (load 25 on 2 cores) a 192 MiB guest
 * dirtying 12 MiB/s then moved by multifd under 24 MiB/s in 15.9 and 18.0 s at 0.96-0.98 of the cap
 * (a third try ran to its 20 s deadline: pre-copy of that cell took 16.7 s).
 *
 * Its cost: the post-copy phase runs at what the cap leaves after the urgent pages, so it lasts
 * longer than under QEMU's limit alone (about (bytes / cap) instead of (bytes / (cap + urgent)));
 * a hybrid switch waits until the move has room for the bytes left.
 */

/**
 * Aim a little under the cap: the final round and libvirt's accounting add a little after the last
 * sample, and limits are whole MiB/s. Costs about 3 % of the post-copy phase's time.
 */
export const CAP_TARGET_RATIO = 0.97;
/** How far ahead each new limit is planned: long enough not to swing on one noisy sample. */
export const CAP_HORIZON_SECONDS = 2;
/** QEMU reads 0 as unlimited; the lowest limit the governor sets (whole MiB/s, libvirt's unit). */
export const MIN_POSTCOPY_LIMIT_MIBPS = 1;

export interface CapGovernorOptions {
  /** The cap the move must hold, MiB/s (> 0). */
  capMiBps: number;
  /** The post-copy limit QEMU starts the post-copy phase with (the recipe's bandwidth.postcopy), MiB/s. */
  initialLimitMiBps: number;
  /**
   * Count the budget from the move's start (pre-copy ran under the same cap) or from the switch
   * (pre-copy ran under another limit, or none: its bytes are not the post-copy phase's to repay).
   */
  budgetFrom: 'start' | 'switch';
  targetRatio?: number;
  horizonSeconds?: number;
}

/** One job sample: libvirt's time_elapsed (ms) and data_processed (bytes) of the active job. */
export interface CapSample {
  elapsedMs: number;
  bytes: number;
}

/** The governor's view after a sample, for progress reports and logs. */
export interface CapDecision {
  /** The post-copy limit to set now (whole MiB/s), or undefined to keep the one in force. */
  setLimitMiBps?: number;
  /** The limit in force after this decision. */
  limitMiBps: number;
  /** The estimated rate of pages sent outside the limit (urgent pages), MiB/s. */
  urgentMiBps: number;
  /** Bytes / (elapsed × cap) over the budget's span so far. */
  capRatio: number;
}

/** The pre-copy rate, as a fraction of the cap, while a planned switch waits for room in the budget. */
export const HOLD_PRECOPY_FRACTION = 0.5;
/** The longest a planned switch waits for room; then it switches anyway (and the cap may be exceeded). */
export const MAX_SWITCH_HOLD_SECONDS = 10;

const MiB = 2 ** 20;

export class CapGovernor {
  private readonly targetRatio: number;
  private readonly horizonSeconds: number;
  private limitMiBps: number;
  private urgentMiBps = 0;
  private origin?: CapSample;
  private last?: CapSample;

  constructor(private readonly o: CapGovernorOptions) {
    if (!(o.capMiBps > 0)) throw new Error(`cap governor: capMiBps must be > 0 (got ${o.capMiBps})`);
    this.targetRatio = o.targetRatio ?? CAP_TARGET_RATIO;
    this.horizonSeconds = o.horizonSeconds ?? CAP_HORIZON_SECONDS;
    this.limitMiBps = o.initialLimitMiBps > 0 ? o.initialLimitMiBps : o.capMiBps;
  }

  /**
   * Before a planned switch: can the budget take every byte left (libvirt's data_remaining) even if
   * they all came at once? Always true when the budget counts from the switch.
   */
  switchFits(sample: CapSample & { remainingBytes: number }): boolean {
    if (this.o.budgetFrom === 'switch') return true;
    return sample.bytes + sample.remainingBytes <= this.targetRatio * this.o.capMiBps * MiB * (sample.elapsedMs / 1000);
  }

  /** The pre-copy limit (whole MiB/s, at least 1) while a planned switch waits for room. */
  holdPrecopyLimitMiBps(): number {
    return Math.max(MIN_POSTCOPY_LIMIT_MIBPS, Math.floor(this.o.capMiBps * HOLD_PRECOPY_FRACTION));
  }

  /**
   * A sample taken during the post-copy phase. The first one only fixes the starting point when
   * the budget counts from the switch; later ones may answer a new limit.
   */
  observe(sample: CapSample): CapDecision {
    if (!this.origin) this.origin = this.o.budgetFrom === 'start' ? { elapsedMs: 0, bytes: 0 } : sample;
    const last = this.last;
    this.last = sample;
    const spanSeconds = (sample.elapsedMs - this.origin.elapsedMs) / 1000;
    const spanBytes = sample.bytes - this.origin.bytes;
    const capRatio = spanSeconds > 0 ? spanBytes / MiB / (spanSeconds * this.o.capMiBps) : 0;
    const intervalSeconds = last ? (sample.elapsedMs - last.elapsedMs) / 1000 : 0;
    // A sample with no time since the last one (libvirt's figures not refreshed yet) says nothing.
    if (!last || intervalSeconds <= 0) return { limitMiBps: this.limitMiBps, urgentMiBps: this.urgentMiBps, capRatio };
    const rateMiBps = (sample.bytes - last.bytes) / MiB / intervalSeconds;
    // What went beyond the limit in force came on the preempt channel; smoothed over samples.
    const urgentNow = Math.max(0, rateMiBps - this.limitMiBps);
    this.urgentMiBps = 0.5 * this.urgentMiBps + 0.5 * urgentNow;
    // The rate that keeps the span's bytes within target × cap at the end of the horizon.
    const allowedBytes = this.targetRatio * this.o.capMiBps * MiB * (spanSeconds + this.horizonSeconds);
    const budgetMiBps = (allowedBytes - spanBytes) / MiB / this.horizonSeconds;
    // Whole MiB/s (libvirt's unit), never above the cap, never 0.
    const ceiling = Math.max(MIN_POSTCOPY_LIMIT_MIBPS, Math.floor(this.o.capMiBps));
    const next = Math.min(ceiling, Math.max(MIN_POSTCOPY_LIMIT_MIBPS, Math.round(budgetMiBps - this.urgentMiBps)));
    const setLimitMiBps = next !== this.limitMiBps ? next : undefined;
    this.limitMiBps = next;
    return { setLimitMiBps, limitMiBps: next, urgentMiBps: this.urgentMiBps, capRatio };
  }
}
