/**
 * Each host's power state, derived from the journal's `power` entries (so it survives a controller
 * restart: the journal is read at start) and updated with every new entry. A host with no entry,
 * or whose last action ended in `done` power-on / `failed` power-off, is awake.
 *
 *   power-off requested -> powering-off -> done -> standby -> power-on requested -> waking -> done -> awake
 *                                       -> failed -> awake                                   -> failed -> standby
 */
import type { HostPowerState } from '../cluster/model.js';
import type { JournalEntry, PowerJournalEntry } from '../history/index.js';

export interface HostPower {
  state: HostPowerState | 'awake';
  /** When the host entered this state (ms since epoch). */
  sinceMs: number;
  /** When the current action was requested (powering-off, waking), ms. */
  requestedAtMs?: number;
  /** When it last became awake after a power-on (woken, or answering again while standby), ms. */
  awakeSinceMs?: number;
  /** When it last went standby, or a wake of it last failed, ms (minStandbySeconds counts from here). */
  standbySinceMs?: number;
  /** When a power-off of it last failed, ms (not tried again within minAwakeSeconds). */
  powerOffFailedAtMs?: number;
  /** What it offered when powered down: the collector cannot read a host in standby. */
  capacity?: { cpuCount: number; memoryTotalBytes: number };
  method?: PowerJournalEntry['method'];
}

const AWAKE: HostPower = { state: 'awake', sinceMs: 0 };

export class PowerStates {
  private readonly hosts = new Map<string, HostPower>();

  /** From journal entries, oldest first (other entry types are ignored). */
  constructor(entries: readonly JournalEntry[] = []) {
    for (const e of entries) if (e.type === 'power') this.apply(e);
  }

  /** A new power entry; `recommended`, `ran` (the state changes when the host answers or not) and dry-run entries change nothing. */
  apply(e: PowerJournalEntry): void {
    if (e.event === 'recommended' || e.event === 'ran' || e.dryRun) return;
    const was = this.hosts.get(e.host) ?? { ...AWAKE };
    const next: HostPower = { ...was, method: e.method };
    if (e.action === 'power-off') {
      if (e.event === 'requested') Object.assign(next, { state: 'powering-off', sinceMs: e.atMs, requestedAtMs: e.atMs });
      else if (e.event === 'done') Object.assign(next, { state: 'standby', sinceMs: e.atMs, standbySinceMs: e.atMs, capacity: e.capacity ?? was.capacity });
      else Object.assign(next, { state: 'awake', sinceMs: e.atMs, requestedAtMs: undefined, powerOffFailedAtMs: e.atMs });
    } else {
      if (e.event === 'requested') Object.assign(next, { state: 'waking', sinceMs: e.atMs, requestedAtMs: e.atMs });
      else if (e.event === 'done') Object.assign(next, { state: 'awake', sinceMs: e.atMs, awakeSinceMs: e.atMs, requestedAtMs: undefined });
      else Object.assign(next, { state: 'standby', sinceMs: e.atMs, standbySinceMs: e.atMs, requestedAtMs: undefined });
    }
    this.hosts.set(e.host, next);
  }

  of(host: string): HostPower {
    return this.hosts.get(host) ?? AWAKE;
  }

  /** Hosts not awake, by name. */
  notAwake(): Map<string, HostPower> {
    return new Map([...this.hosts].filter(([, p]) => p.state !== 'awake'));
  }

  /** Hosts in standby now. */
  standby(): string[] {
    return [...this.hosts].filter(([, p]) => p.state === 'standby').map(([h]) => h);
  }
}
