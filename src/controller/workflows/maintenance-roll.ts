/**
 * A rolling maintenance's state as the journal tells it (`maintenance` entries, history/
 * journal-entries.ts): which hosts in which order, which steps each has done, where it stopped.
 * Pure: what `maintenance` resumes from after a restart and what `status` shows.
 */
import { MAINTENANCE_STEPS, type JournalEntry, type MaintenanceJournalEntry, type MaintenanceStep } from '../../history/index.js';

/**
 * Why a roll stopped (after it started: a refusal before it starts is a RequestRefused):
 * - `drain-cannot-place`: the cluster cannot take the host's VMs (the drain plan leaves some: no
 *   room, a rule, headroom, an evacuation override `never`); nothing of that host was moved.
 * - `drain-failed`: a migration of the drain failed or could not start; the VM is where it was.
 * - `host-down`: the host to drain does not answer libvirt (its VMs cannot move live).
 * - `hook-failed`, `hook-timeout`: the operator's hook exited non-zero, or still ran at its timeout.
 * - `host-not-healthy`: the host did not answer libvirt again within maintenance.healthyTimeoutSeconds.
 * - `host-in-maintenance`: the host is flagged maintenance in the config (someone else's maintenance):
 *   found before its drain, nothing of that host is touched.
 * - `host-not-empty`: VMs arrived on the drained host before its hook (another controller, an
 *   operator): the hook, which may reboot it, is not run.
 * - `return-refused`, `return-failed`: a VM could not go back (a rule, room) or its migration failed.
 */
export type MaintenanceStopCode =
  | 'drain-cannot-place'
  | 'drain-failed'
  | 'host-down'
  | 'hook-failed'
  | 'hook-timeout'
  | 'host-not-healthy'
  | 'host-in-maintenance'
  | 'host-not-empty'
  | 'return-refused'
  | 'return-failed';

/** What a roll was asked to do (its roll-started entry). */
export interface RollPlan {
  rollId: string;
  /** Host names, in the order they are rolled. */
  hosts: string[];
  returnVms: boolean;
  /** The hook's argv (before placeholders); undefined: no hook. */
  hook?: string[];
}

/** A roll read back from the journal. */
export interface RollProgress {
  plan: RollPlan;
  /** `running`: no end recorded (it runs, or its controller died); `stopped`: a step failed. */
  status: 'running' | 'stopped' | 'finished' | 'abandoned';
  /** Per host, the steps done. */
  done: Map<string, Set<MaintenanceStep>>;
  /** Per host, the VMs it had before its drain (its first drain step-started). */
  residents: Map<string, { name: string; uuid: string }[]>;
  /** The last step started and not ended (a controller killed in it). */
  inStep?: { host: string; step: MaintenanceStep };
  /** Why it stopped (status `stopped`). */
  stop?: { code: string; detail: string; host?: string; step?: MaintenanceStep };
}

/** The steps each host of `plan` goes through, in order. */
export function stepsOf(plan: Pick<RollPlan, 'returnVms'>): MaintenanceStep[] {
  return MAINTENANCE_STEPS.filter((s) => s !== 'return' || plan.returnVms);
}

/**
 * The last roll in `entries` (journal order), or undefined when there is none. Entries of other
 * rolls and of other types are ignored.
 */
export function lastRoll(entries: readonly JournalEntry[]): RollProgress | undefined {
  let roll: RollProgress | undefined;
  for (const e of entries) {
    if (e.type !== 'maintenance') continue;
    if (e.event === 'roll-started') {
      roll = {
        plan: { rollId: e.rollId, hosts: e.hosts ?? [], returnVms: e.returnVms === true, ...(e.hook ? { hook: e.hook } : {}) },
        status: 'running',
        done: new Map(),
        residents: new Map(),
      };
      continue;
    }
    if (!roll || e.rollId !== roll.plan.rollId) continue;
    apply(roll, e);
  }
  return roll;
}

function apply(roll: RollProgress, e: MaintenanceJournalEntry): void {
  switch (e.event) {
    case 'step-started':
      if (!e.host || !e.step) return;
      roll.inStep = { host: e.host, step: e.step };
      if (e.step === 'drain' && e.residents && !roll.residents.has(e.host)) roll.residents.set(e.host, e.residents);
      // A re-run after a stop is running again.
      roll.status = 'running';
      roll.stop = undefined;
      return;
    case 'step-done':
      if (!e.host || !e.step) return;
      roll.inStep = undefined;
      roll.done.set(e.host, (roll.done.get(e.host) ?? new Set()).add(e.step));
      return;
    case 'step-failed':
      roll.inStep = undefined;
      return;
    case 'roll-stopped':
      roll.status = 'stopped';
      roll.stop = { code: e.code ?? 'unknown', detail: e.detail ?? '', host: e.host, step: e.step };
      return;
    case 'roll-finished':
      roll.status = 'finished';
      return;
    case 'roll-abandoned':
      roll.status = 'abandoned';
      return;
  }
}

/** The last roll when it has not finished (running, or stopped on a step), else undefined. */
export function unfinishedRoll(entries: readonly JournalEntry[]): RollProgress | undefined {
  const roll = lastRoll(entries);
  return roll && (roll.status === 'running' || roll.status === 'stopped') ? roll : undefined;
}

/** Where a roll goes on: the first step of the first host not done; undefined when all are. */
export function nextStep(roll: RollProgress): { index: number; host: string; step: MaintenanceStep } | undefined {
  const steps = stepsOf(roll.plan);
  for (const [index, host] of roll.plan.hosts.entries()) {
    const done = roll.done.get(host);
    const step = steps.find((s) => !done?.has(s));
    if (step) return { index, host, step };
  }
  return undefined;
}

/** One line for `status` about the last roll ("maintenance roll in progress: host 2 of 3 (lab2), step hook"); undefined when none is unfinished. */
export function rollStatusLine(entries: readonly JournalEntry[]): string | undefined {
  const roll = unfinishedRoll(entries);
  if (!roll) return undefined;
  const at = roll.inStep ?? nextStep(roll);
  const n = roll.plan.hosts.length;
  const where = at ? `host ${roll.plan.hosts.indexOf(at.host) + 1} of ${n} (${at.host}), step ${at.step}` : `all ${n} hosts done`;
  if (roll.status === 'stopped')
    return `maintenance roll ${roll.plan.rollId} STOPPED at ${where}: ${roll.stop?.code}: ${roll.stop?.detail} (fix it, then \`virt-balancer maintenance --resume\`)`;
  return `maintenance roll ${roll.plan.rollId} in progress: ${where}`;
}

/**
 * The host an unfinished roll stopped at between its drain and its health wait (its hook or health
 * wait to come): it may be half updated or rebooting, so the daemon keeps VMs off it until the
 * roll is resumed or abandoned. Undefined otherwise.
 */
export function unfinishedRollHost(entries: readonly JournalEntry[]): string | undefined {
  const roll = unfinishedRoll(entries);
  const at = roll && nextStep(roll);
  // Between its drain and its health: its hook may have half updated or be rebooting it. Not
  // before (an interrupted drain is not the daemon's to finish) nor at its return (updated and
  // healthy: holding it would send the VMs already back away again).
  return at && (at.step === 'hook' || at.step === 'healthy') ? at.host : undefined;
}
