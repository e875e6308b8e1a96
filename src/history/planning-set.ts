/**
 * The journal entries planning needs, and no others: what a start-up reads and what a rotated
 * journal carries over (journal.ts). Issue 27 R9: a 227 MB journal read whole took 11 s and
 * 850 MiB at start; planning reads only bounded windows of it.
 *
 * Kept, in their journal order:
 * - outcomes: the last KEPT_MOVES completed and failed ones (DecisionHistory's recent moves and
 *   failures), each VM's last completed one (cooldown: lastMovedAtMs; the last MAX_VMS VMs moved),
 *   and the last few completed ones per host pair, per pair and technique and per technique (link
 *   bandwidths and the cost model's calibration keep 5 and 10 of those: link-bandwidth.ts,
 *   policy/calibration.ts; twice that here);
 * - `started` entries no later outcome of the same VM ended (what a restarted controller adopts);
 * - `power` entries: per host, the last of each action and event that changes its state (the state
 *   PowerStates rebuilds from them is the one it rebuilds from all: each field it keeps is set by
 *   the last entry of some kind), and the last power-off `done` that recorded the capacity;
 * - `maintenance` entries of the last roll (from its `roll-started`): what a restarted
 *   `maintenance` resumes from and `status` shows; a few per host.
 * Every other entry (planned, rejected, adapted, recommendations...) is history for `history`, not
 * for planning.
 */
import type { JournalEntry, MaintenanceJournalEntry, PowerJournalEntry } from './journal-entries.js';

/** Recent moves and failures planning keeps (decision-history.ts KEPT). */
const KEPT_MOVES = 500;
/** Completed moves kept per host pair, per pair and technique, and per technique. */
const KEPT_PER_KEY = 10;
const KEPT_PER_TECHNIQUE = 20;
/** VMs whose last completed move is kept for their cooldown (the most recently moved). */
const MAX_VMS = 20_000;

type Outcome = Extract<JournalEntry, { type: 'outcome' }>;

/** A window of the last `size` sequence numbers. */
class LastN {
  private readonly items: number[] = [];
  constructor(private readonly size: number) {}
  push(seq: number): void {
    this.items.push(seq);
    if (this.items.length > this.size * 2) this.items.splice(0, this.items.length - this.size);
  }
  values(): number[] {
    return this.items.slice(-this.size);
  }
}

/**
 * Feed entries oldest first (`add`), then take the planning set (`entries`). Memory is bounded by
 * the windows above, hosts and VMs, never by the journal's length.
 */
export class PlanningSetBuilder {
  private seq = 0;
  private readonly outcomes = new Map<number, Outcome>();
  private readonly completed = new LastN(KEPT_MOVES);
  private readonly failed = new LastN(KEPT_MOVES);
  private readonly perKey = new Map<string, LastN>();
  /** VM UUID -> seq of its last completed outcome, least recent first. */
  private readonly lastPerVm = new Map<string, number>();
  private readonly started = new Map<string, { seq: number; entry: JournalEntry }>();
  private readonly power = new Map<string, { seq: number; entry: PowerJournalEntry }>();
  /** The last roll's entries (a roll-started starts the list again). */
  private roll: { seq: number; entry: MaintenanceJournalEntry }[] = [];

  /** Whether a line of this entry type can matter (the reader skips parsing the others). */
  static wants(type: string): boolean {
    return type === 'outcome' || type === 'started' || type === 'power' || type === 'maintenance';
  }

  add(e: JournalEntry): void {
    const seq = this.seq++;
    if (e.type === 'started') this.started.set(e.vmUuid, { seq, entry: e });
    else if (e.type === 'power') this.addPower(seq, e);
    else if (e.type === 'outcome') this.addOutcome(seq, e);
    else if (e.type === 'maintenance') {
      if (e.event === 'roll-started') this.roll = [];
      this.roll.push({ seq, entry: e });
    }
  }

  private addPower(seq: number, e: PowerJournalEntry): void {
    if (e.event === 'recommended' || e.event === 'ran' || e.dryRun) return;
    this.power.set(`${e.host}\u0000${e.action}\u0000${e.event}`, { seq, entry: e });
    if (e.action === 'power-off' && e.event === 'done' && e.capacity) this.power.set(`${e.host}\u0000capacity`, { seq, entry: e });
  }

  private addOutcome(seq: number, e: Outcome): void {
    this.started.delete(e.vmUuid);
    this.outcomes.set(seq, e);
    if (e.outcome !== 'completed') {
      this.failed.push(seq);
      return;
    }
    this.completed.push(seq);
    this.lastPerVm.delete(e.vmUuid);
    this.lastPerVm.set(e.vmUuid, seq);
    if (this.lastPerVm.size > MAX_VMS) this.lastPerVm.delete(this.lastPerVm.keys().next().value as string);
    const keys = [`p\u0000${e.from}\u0000${e.to}\u0000${e.tls === true}`];
    if (!e.adoptedAfterRestart) keys.push(`c\u0000${e.from}\u0000${e.to}\u0000${e.technique}`, `t\u0000${e.technique}`);
    for (const key of keys) {
      const window = this.perKey.get(key) ?? new LastN(key.startsWith('t') ? KEPT_PER_TECHNIQUE : KEPT_PER_KEY);
      this.perKey.set(key, window);
      window.push(seq);
    }
    // Outcomes no window holds any more are dropped now, so memory stays bounded on a long journal.
    if (this.outcomes.size > 4 * (2 * KEPT_MOVES + this.lastPerVm.size + this.perKey.size * KEPT_PER_TECHNIQUE)) this.prune();
  }

  private keptOutcomeSeqs(): Set<number> {
    const kept = new Set<number>([...this.completed.values(), ...this.failed.values(), ...this.lastPerVm.values()]);
    for (const w of this.perKey.values()) for (const s of w.values()) kept.add(s);
    return kept;
  }

  private prune(): void {
    const kept = this.keptOutcomeSeqs();
    for (const seq of this.outcomes.keys()) if (!kept.has(seq)) this.outcomes.delete(seq);
  }

  /** The planning set, in journal order. */
  entries(): JournalEntry[] {
    const chosen: { seq: number; entry: JournalEntry }[] = [];
    for (const seq of this.keptOutcomeSeqs()) chosen.push({ seq, entry: this.outcomes.get(seq)! });
    chosen.push(...this.started.values(), ...this.power.values(), ...this.roll);
    // One entry may sit under two power keys (its event and the capacity): once.
    const unique = new Map(chosen.map((c) => [c.seq, c.entry]));
    return [...unique.entries()].sort((a, b) => a[0] - b[0]).map(([, entry]) => entry);
  }
}

/** The planning set of entries already in memory (oldest first). */
export function planningSet(entries: Iterable<JournalEntry>): JournalEntry[] {
  const builder = new PlanningSetBuilder();
  for (const e of entries) builder.add(e);
  return builder.entries();
}
