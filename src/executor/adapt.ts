/**
 * Adapting a running pre-copy: switching to post-copy (at once, after N passes, or when pre-copy
 * stalls) and raising the max downtime within the budget when pre-copy cannot converge otherwise;
 * after the switch, holding the bandwidth cap over the whole move (cap-governor.ts).
 * One Adapter per move; it reads each job sample the watch hands it.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import { domainStateName, MigrateMaxSpeedFlags, type DomainRef, type LibvirtConnection, type TypedParams } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import { CapGovernor, MAX_SWITCH_HOLD_SECONDS } from './cap-governor.js';
import type { MigrationProgress } from './result.js';
import { postcopyPossibleFor, type MigrationRecipe } from './technique-params.js';
import { num } from './vm-on-host.js';

export interface AdapterOptions {
  recipe: MigrationRecipe;
  config: Pick<MigrationConfig, 'stuckAfterIterations' | 'raiseDowntimeWithinBudget'>;
  downtimeBudgetMs: number;
  startedAtMs: number;
  log: Logger;
  onProgress?: (p: MigrationProgress) => void;
  onAdapt?: (action: string, detail: string) => void;
}

export class Adapter {
  switchedToPostcopy = false;
  lastIteration = 0;
  private switchRefusals = 0;
  private notRunningSeen = 0;
  private raisedDowntime = false;
  private minRemaining = Number.POSITIVE_INFINITY;
  private stalledIterations = 0;
  /** Present when the move may run post-copy under a cap: holds that cap over the whole move. */
  private readonly capGovernor?: CapGovernor;
  private capLimitRefusals = 0;
  /** Present for a multifd move under a cap: raises the split per-channel limit while the whole move stays within the cap. */
  private readonly multifdGovernor?: CapGovernor;
  private multifdLimitRefusals = 0;
  /** A hybrid switch is due (its pre-copy passes are done) but waits for room in the cap's budget. */
  private switchDue?: { why: string; sinceMs: number; held: boolean };

  constructor(private readonly o: AdapterOptions) {
    const { params, postcopy } = o.recipe;
    // A post-copy from the start begins below its cap (technique-params.ts POSTCOPY_START_FRACTION).
    const postcopyCap = o.recipe.postcopyCapMiBps ?? params.bandwidthPostcopyMiBps ?? 0;
    if (postcopy.mode !== 'never' && postcopyCap > 0)
      this.capGovernor = new CapGovernor({
        capMiBps: postcopyCap,
        initialLimitMiBps: params.bandwidthPostcopyMiBps ?? postcopyCap,
        // Pre-copy ran under the same cap (a single stream: multifd has no post-copy): the budget is the whole move's.
        budgetFrom: params.bandwidthMiBps === postcopyCap ? 'start' : 'switch',
      });
    // QEMU's max-bandwidth with multifd (libvirt's, through virDomainMigrateSetMaxSpeed without flags)
    // is what the governor sets; it reads what went past the limit in force as the channels' excess.
    if (o.recipe.multifdCapMiBps !== undefined && o.recipe.multifdCapMiBps > 0)
      this.multifdGovernor = new CapGovernor({
        capMiBps: o.recipe.multifdCapMiBps,
        initialLimitMiBps: params.bandwidthMiBps ?? o.recipe.multifdCapMiBps,
        budgetFrom: 'start',
      });
  }

  /** A multifd move under a cap: feed the job's figures to its governor and set QEMU's max-bandwidth it answers. */
  private async holdMultifdCap(p: TypedParams, conn: LibvirtConnection, dom: DomainRef): Promise<void> {
    if (!this.multifdGovernor) return;
    const bytes = num(p, 'data_processed');
    if (bytes === undefined) return;
    const elapsedMs = num(p, 'time_elapsed') ?? Date.now() - this.o.startedAtMs;
    const decision = this.multifdGovernor.observe({ elapsedMs, bytes });
    if (decision.setLimitMiBps === undefined) return;
    try {
      await conn.domainMigrateSetMaxSpeed(dom, decision.setLimitMiBps, 0);
      this.o.log.debug({ limitMiBps: decision.setLimitMiBps, capRatio: +decision.capRatio.toFixed(3) }, 'multifd bandwidth limit set to hold the cap');
    } catch (error) {
      if (this.multifdLimitRefusals++ === 0)
        this.o.log.warn({ err: (error as Error).message }, 'multifd bandwidth limit refused; the move keeps the split limit');
    }
  }

  /**
   * After the switch: feed the job's figures to the cap governor and set the post-copy limit it
   * answers. A refusal is logged once; the next sample tries again. Returns the limit in force.
   */
  private async holdCap(p: TypedParams, conn: LibvirtConnection, dom: DomainRef): Promise<number | undefined> {
    if (!this.capGovernor || !this.switchedToPostcopy) return undefined;
    const bytes = num(p, 'data_processed');
    if (bytes === undefined) return undefined;
    // libvirt's time_elapsed is what the move's result is reported with (completedJobFigures).
    const elapsedMs = num(p, 'time_elapsed') ?? Date.now() - this.o.startedAtMs;
    const decision = this.capGovernor.observe({ elapsedMs, bytes });
    if (decision.setLimitMiBps !== undefined) {
      try {
        await conn.domainMigrateSetMaxSpeed(dom, decision.setLimitMiBps, MigrateMaxSpeedFlags.POSTCOPY);
        this.o.log.debug(
          { limitMiBps: decision.setLimitMiBps, urgentMiBps: +decision.urgentMiBps.toFixed(1), capRatio: +decision.capRatio.toFixed(3) },
          'post-copy bandwidth limit set to hold the cap',
        );
      } catch (error) {
        if (this.capLimitRefusals++ === 0) this.o.log.warn({ err: (error as Error).message }, 'post-copy bandwidth limit refused; the cap may be exceeded');
      }
    }
    return decision.limitMiBps;
  }

  /**
   * Ask libvirt to switch to post-copy; a refusal is logged once and retried by the caller's next sample.
   * Not while the guest is not running (paused by an operator mid-move): post-copy would resume it on the target.
   */
  async switchToPostcopy(conn: LibvirtConnection, dom: DomainRef, why: string): Promise<void> {
    if (this.switchedToPostcopy) return;
    const state = await conn.domainGetState(dom).then(
      (s) => s.state,
      () => undefined,
    );
    if (!postcopyPossibleFor(state)) {
      if (this.notRunningSeen++ === 0)
        this.o.log.warn({ why, state: state === undefined ? undefined : domainStateName(state) }, 'no switch to post-copy: the VM is not running');
      return;
    }
    try {
      await conn.domainMigrateStartPostCopy(dom, 0);
      this.switchedToPostcopy = true;
      this.o.log.info({ why, refusedBefore: this.switchRefusals }, 'switched to post-copy');
      this.o.onAdapt?.('postcopy', why);
    } catch (error) {
      // A switch retried at every poll would otherwise repeat the same warning until the job ends.
      if (this.switchRefusals++ === 0) this.o.log.warn({ why, err: (error as Error).message }, 'post-copy switch refused');
      else this.o.log.debug({ why, err: (error as Error).message, refusals: this.switchRefusals }, 'post-copy switch refused again');
    }
  }

  /**
   * A due hybrid switch: switch once the cap's budget can take the bytes left (cap-governor.ts
   * switchFits); until then run pre-copy at a lower max-bandwidth to make that room, for at most
   * MAX_SWITCH_HOLD_SECONDS. Without a cap, switch at once.
   */
  private async switchWhenRoom(p: TypedParams, conn: LibvirtConnection, dom: DomainRef): Promise<void> {
    const due = this.switchDue!;
    const bytes = num(p, 'data_processed');
    const remainingBytes = num(p, 'data_remaining');
    const elapsedMs = num(p, 'time_elapsed') ?? Date.now() - this.o.startedAtMs;
    const heldSeconds = (Date.now() - due.sinceMs) / 1000;
    const fits = !this.capGovernor || bytes === undefined || remainingBytes === undefined || this.capGovernor.switchFits({ elapsedMs, bytes, remainingBytes });
    if (fits || heldSeconds >= MAX_SWITCH_HOLD_SECONDS) {
      if (!fits) this.o.log.warn({ heldSeconds, remainingBytes }, 'post-copy switch without room for the bytes left: the cap may be exceeded');
      await this.switchToPostcopy(conn, dom, due.why);
      return;
    }
    if (due.held) return;
    due.held = true;
    const limit = this.capGovernor!.holdPrecopyLimitMiBps();
    await conn.domainMigrateSetMaxSpeed(dom, limit, 0).then(
      () => this.o.log.info({ limitMiBps: limit, remainingBytes }, 'post-copy switch waits for room under the cap: pre-copy slowed'),
      (e) => this.o.log.warn({ err: (e as Error).message }, 'pre-copy bandwidth limit refused'),
    );
  }

  /** One sample of the active job: report progress, then switch or raise downtime as the recipe says. */
  async onSample(p: TypedParams, conn: LibvirtConnection, dom: DomainRef): Promise<void> {
    const { recipe } = this.o;
    if (recipe.postcopy.mode === 'immediately' && !this.switchedToPostcopy) await this.switchToPostcopy(conn, dom, 'technique is post-copy');
    const iteration = num(p, 'memory_iteration') ?? 0;
    const remaining = num(p, 'data_remaining') ?? 0;
    const processed = num(p, 'data_processed') ?? 0;
    const total = num(p, 'data_total') ?? 0;
    const bps = num(p, 'memory_bps') ?? 0;
    const pageSize = num(p, 'memory_page_size') ?? 4096;
    const dirtyBps = (num(p, 'memory_dirty_rate') ?? 0) * pageSize;
    const postcopyLimitMiBps = await this.holdCap(p, conn, dom);
    await this.holdMultifdCap(p, conn, dom);
    this.o.onProgress?.({
      phase: this.switchedToPostcopy ? 'postcopy' : 'precopy',
      iteration,
      dataProcessedBytes: processed,
      dataRemainingBytes: remaining,
      dataTotalBytes: total,
      percent: total > 0 ? Math.min(100, (100 * (total - remaining)) / total) : 0,
      mibps: bps / 2 ** 20,
      dirtyRateMiBps: dirtyBps / 2 ** 20,
      etaSeconds: bps > dirtyBps && bps > 0 ? remaining / (bps - dirtyBps) : undefined,
      elapsedMs: Date.now() - this.o.startedAtMs,
      postcopyLimitMiBps,
    });
    if (this.switchDue && !this.switchedToPostcopy) await this.switchWhenRoom(p, conn, dom);
    if (iteration <= this.lastIteration) return;
    this.lastIteration = iteration;
    // A pass that did not bring data remaining below the best seen so far is a stall.
    if (iteration > 1) {
      if (remaining < this.minRemaining * 0.9) this.stalledIterations = 0;
      else this.stalledIterations++;
    }
    this.minRemaining = Math.min(this.minRemaining, remaining);
    if (recipe.postcopy.mode === 'afterIterations' && iteration > recipe.postcopy.iterations && !this.switchDue) {
      // Later samples retry through the check at the top until the switch is made.
      this.switchDue = { why: `hybrid: after ${recipe.postcopy.iterations} pre-copy pass(es)`, sinceMs: Date.now(), held: false };
      await this.switchWhenRoom(p, conn, dom);
    }
    if (this.switchedToPostcopy || this.stalledIterations < this.o.config.stuckAfterIterations - 1) return;
    if (recipe.postcopy.mode === 'whenStuck') {
      await this.switchToPostcopy(conn, dom, `pre-copy not converging: data remaining ${Math.round(remaining / 2 ** 20)} MiB after ${iteration} iterations`);
    } else if (this.o.config.raiseDowntimeWithinBudget && !this.raisedDowntime && bps > 0 && (remaining / bps) * 1000 <= this.o.downtimeBudgetMs) {
      this.raisedDowntime = true;
      await conn.domainMigrateSetMaxDowntime(dom, this.o.downtimeBudgetMs).catch(() => {});
      this.o.onAdapt?.('downtime', `max downtime raised to the ${this.o.downtimeBudgetMs} ms budget`);
      this.o.log.info({ downtimeMs: this.o.downtimeBudgetMs }, 'raised max downtime within the budget');
    }
  }
}
