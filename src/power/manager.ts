/**
 * The controller's power actions, one tick at a time:
 * 1. `observe(state)`: journal what the hosts' reachability says about actions under way
 *    (decide.ts powerTransitions) and return the state marked with each host's power state;
 * 2. `decide(state, plan, options)`: the power-offs (decide.ts) and the wake (wake.ts) wanted now;
 * 3. `carryOut(actions)`: by policy.automation and the dry run: run (journal `requested`, the
 *    command or node suspend in the background, `failed` if it fails; `done` comes from a later
 *    tick's observation), or only recommend (journal `recommended` once while it stays wanted).
 * Every step is journaled (so the states survive a restart: states.ts), counted in
 * virt_balancer_power_actions_total and logged; the standby gauges follow the states.
 */
import type { ClusterState } from '../cluster/model.js';
import type { Config, HostConfig } from '../config/index.js';
import type { Journal, JournalEntry, PowerJournalEntry } from '../history/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import type { Plan, PlanOptions } from '../policy/index.js';
import { expandCommand, operatorCommand, powerTarget, runCommand, type CommandRunner } from './command.js';
import { markPowerStates, powerTransitions, type PowerDecision } from './decide.js';
import { suspendHost, type SuspendableHost } from './node-suspend.js';
import { PowerStates } from './states.js';
import { planPower, powerMode, type PowerDecisions } from './plan-power.js';

/** A power action of this tick and what became of it. */
export interface PlannedPowerAction extends PowerDecision {
  /** `run`: started now; `recommended`: wanted, not done (policy.automation, or a dry run). */
  mode: 'run' | 'recommended';
  /** What the operator would run to carry it out (expanded, shell-quoted; command.ts operatorCommand). */
  command?: string;
}

/** What `plan` and the tick report show about power. */
export interface PowerPlan {
  actions: PlannedPowerAction[];
  /** Needs a power action would meet, held back (anti-flapping), and why. */
  held: { host: string; reason: string }[];
  /** Hosts not awake: their power state. */
  hosts: { host: string; state: string; sinceMs: number }[];
}

export interface PowerManagerDeps {
  journal: Pick<Journal, 'append'>;
  logger: Logger;
  metrics?: Metrics;
  /** The host's libvirt connection, for node suspend. */
  connection: (host: string) => SuspendableHost | undefined;
  /** Called when a host is woken, so its connection is retried at once rather than after its backoff. */
  onWakeRequested?: (host: string) => void;
  runCommand?: CommandRunner;
  now?: () => number;
  /**
   * With ha: commit the action under the leader's fencing token before it is carried out
   * (LeaderGate.commitPowerAction); a refusal (why) means it is not carried out and is journaled
   * as failed with the reason.
   */
  commitAction?: (d: PowerDecision) => Promise<string | undefined>;
}

export class PowerManager {
  states: PowerStates;
  private readonly running = new Set<Promise<void>>();
  /** Actions recommended last tick (host:action), journaled once while they stay wanted. */
  private recommended = new Set<string>();

  constructor(
    private config: Config,
    private readonly deps: PowerManagerDeps,
    entries: readonly JournalEntry[] = [],
  ) {
    this.states = new PowerStates(entries);
  }

  /** Rebuild from the journal (start, or a new HA term). */
  restore(entries: readonly JournalEntry[]): void {
    this.states = new PowerStates(entries);
  }

  reload(config: Config): void {
    this.config = config;
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private method(): PowerJournalEntry['method'] {
    return this.config.power.action;
  }

  private record(e: Omit<PowerJournalEntry, 'type' | 'atMs' | 'method'> & { method?: PowerJournalEntry['method'] }): void {
    const entry: PowerJournalEntry = { type: 'power', atMs: this.now(), method: this.states.of(e.host).method ?? this.method(), ...e };
    this.states.apply(entry);
    this.track(this.deps.journal.append(entry));
    this.deps.metrics?.powerActionsTotal.inc({ action: e.action, outcome: e.event });
    const level = e.event === 'failed' ? 'error' : 'info';
    this.deps.logger[level](
      {
        host: e.host,
        action: e.action,
        event: e.event,
        reason: e.reason,
        detail: e.detail,
        seconds: e.seconds,
        exitCode: e.exitCode,
        stderr: e.stderr,
        command: e.command,
        dryRun: e.dryRun,
      },
      `${e.action} ${e.event}`,
    );
  }

  /** Journal the transitions this state shows; the state with each host's power state set. */
  observe(state: ClusterState): ClusterState {
    const nowMs = this.now();
    for (const h of state.hosts) if (h.up && h.cpuCount > 0) this.capacities.set(h.name, { cpuCount: h.cpuCount, memoryTotalBytes: h.memoryTotalBytes });
    for (const t of powerTransitions(state, this.states, this.config, nowMs)) {
      const capacity = t.action === 'power-off' && t.event === 'done' ? this.capacities.get(t.host) : undefined;
      this.record(capacity ? { ...t, capacity } : t);
    }
    this.exportGauges(state);
    return markPowerStates(state, this.states);
  }

  private exportGauges(state: ClusterState): void {
    const m = this.deps.metrics;
    if (!m) return;
    let standby = 0;
    for (const h of state.hosts) {
      const s = this.states.of(h.name).state;
      if (s === 'standby') standby++;
      m.hostStandby.set({ host: h.name }, s === 'awake' ? 0 : 1);
    }
    m.hostsStandby.set(standby);
  }

  /** This tick's power actions (nothing run yet), with the holds `plan` shows. */
  decide(state: ClusterState, plan: Plan, options: PlanOptions): Promise<PowerDecisions> {
    return planPower(state, plan, this.states, this.config, options, this.now());
  }

  /** Run or recommend the actions (plan-power.ts powerMode: policy.automation and the dry run). */
  carryOut(decisions: PowerDecision[], dryRun: boolean): PlannedPowerAction[] {
    const out: PlannedPowerAction[] = [];
    const recommendedNow = new Set<string>();
    for (const d of decisions) {
      if (powerMode(d, this.config.policy.automation, dryRun) === 'recommended') {
        const key = `${d.host}:${d.action}`;
        recommendedNow.add(key);
        const host = this.hostConfig(d.host);
        const command = host ? operatorCommand(d.action, host, this.config.power) : undefined;
        if (!this.recommended.has(key))
          this.record({ host: d.host, action: d.action, event: 'recommended', reason: d.reason, command, dryRun: dryRun || undefined });
        out.push({ ...d, mode: 'recommended', ...(command ? { command } : {}) });
        continue;
      }
      this.start(d);
      out.push({ ...d, mode: 'run' });
    }
    this.recommended = recommendedNow;
    return out;
  }

  /** The power plan for a report: the actions plus the hosts not awake. */
  report(actions: PlannedPowerAction[], held: { host: string; reason: string }[]): PowerPlan {
    return {
      actions,
      held,
      hosts: [...this.states.notAwake()].map(([host, p]) => ({ host, state: p.state, sinceMs: p.sinceMs })),
    };
  }

  private hostConfig(name: string): HostConfig | undefined {
    return this.config.hosts.find((h) => h.name === name);
  }

  private start(d: PowerDecision): void {
    const host = this.hostConfig(d.host);
    if (!host) return;
    this.record({ host: d.host, action: d.action, event: 'requested', reason: d.reason, method: this.method() });
    if (d.action === 'power-on') this.deps.onWakeRequested?.(d.host);
    const started = this.now();
    const job = this.execute(d, host).then((failure) => {
      const seconds = (this.now() - started) / 1000;
      if (failure) this.record({ host: d.host, action: d.action, event: 'failed', seconds, ...failure });
      else this.record({ host: d.host, action: d.action, event: 'ran', seconds, detail: this.awaiting(d.action) });
    });
    this.track(job);
  }

  /** What a successful action still waits for (journaled with `ran`). */
  private awaiting(action: PowerDecision['action']): string {
    const p = this.config.power;
    const how = p.action === 'node-suspend' && action === 'power-off' ? 'libvirt accepted the suspend' : 'the command exited 0';
    return action === 'power-off'
      ? `${how}; standby once a controller sees the host stop answering libvirt (within power.powerOffTimeoutSeconds ${p.powerOffTimeoutSeconds} s)`
      : `${how}; awake once a controller sees the host answer libvirt (within power.wakeTimeoutSeconds ${p.wakeTimeoutSeconds} s)`;
  }

  /** Keep a background promise (an action, a journal write) until it settles, for idle(). */
  private track(promise: Promise<unknown>): void {
    const p: Promise<void> = promise.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  /** The command or libvirt call; a failure's journal fields, or undefined when it succeeded. */
  private async execute(d: PowerDecision, host: HostConfig): Promise<Pick<PowerJournalEntry, 'detail' | 'exitCode' | 'stderr'> | undefined> {
    const power = this.config.power;
    const argv = d.action === 'power-off' ? power.powerOffCommand : power.powerOnCommand;
    if (this.deps.commitAction) {
      let refused: string | undefined;
      try {
        refused = await this.deps.commitAction(d);
      } catch (error) {
        refused = (error as Error).message;
      }
      if (refused !== undefined) return { detail: `not carried out: this controller's leadership was not confirmed (fencing: ${refused})` };
    }
    if (d.action === 'power-off' && power.action === 'node-suspend') {
      const conn = this.deps.connection(d.host);
      if (!conn) return { detail: `host ${d.host} has no libvirt connection to suspend it through` };
      try {
        await suspendHost(d.host, conn, power.suspend.target, power.suspend.durationSeconds);
        return undefined;
      } catch (error) {
        return { detail: (error as Error).message };
      }
    }
    if (!argv) return { detail: `no power.${d.action === 'power-off' ? 'powerOffCommand' : 'powerOnCommand'} configured` };
    let expanded: string[];
    try {
      expanded = expandCommand(argv, powerTarget(host));
    } catch (error) {
      return { detail: (error as Error).message };
    }
    const result = await (this.deps.runCommand ?? runCommand)(expanded, power.commandTimeoutSeconds * 1000);
    if (result.ok) return undefined;
    // exitCode null means it never ran (spawn error) or was killed: the detail says which.
    return { detail: result.error, exitCode: result.exitCode ?? undefined, stderr: result.stderr || undefined };
  }

  /** What each host offered when last read, journaled with its power-off done (a host in standby cannot be read). */
  private readonly capacities = new Map<string, { cpuCount: number; memoryTotalBytes: number }>();

  /** How many actions or journal writes are still running. */
  get busy(): number {
    return this.running.size;
  }

  /** Wait for the actions running in the background and their journal entries (stop, run --once, tests). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
