/**
 * Rolling maintenance (`virt-balancer maintenance`): for each host in order, drain it (the drain
 * workflow), run the operator's hook (update, reboot), wait until libvirt answers again and the
 * host is healthy, optionally move its VMs back, then the next host. Each step is journaled before
 * and after it runs (`maintenance` entries), so a roll whose controller died resumes at the step it
 * was in, never redoing a finished host; each step is also sent to the webhooks and counted.
 *
 * This module is the sequencing only, over `RollSteps` (maintenance-steps.ts does them on libvirt;
 * unit tests use fakes). The first failing step stops the roll with a typed code
 * (MaintenanceStopCode) and a sentence naming the host, the VM and the fix.
 */
import { randomUUID } from 'node:crypto';
import type { JournalEntry, MaintenanceJournalEntry, MaintenanceStep } from '../../history/index.js';
import { RequestRefused } from '../errors.js';
import { type MaintenanceStopCode, nextStep, type RollPlan, type RollProgress, stepsOf, unfinishedRoll } from './maintenance-roll.js';

export type { MaintenanceStopCode, RollPlan, RollProgress } from './maintenance-roll.js';

/** A step's end: done (what it moved, what happened), or failed with a code and the reason. */
export type StepOutcome =
  | { ok: true; moved?: string[]; detail?: string; exitCode?: number | null; stdoutTail?: string; stderrTail?: string }
  | { ok: false; code: MaintenanceStopCode; detail: string; exitCode?: number | null; stdoutTail?: string; stderrTail?: string };

/** The four steps, on one host each (maintenance-steps.ts; fakes in unit tests). */
export interface RollSteps {
  /** The VMs on `host` now (recorded before its drain: the ones a return step moves back). */
  residents(host: string): Promise<{ name: string; uuid: string }[]>;
  drain(host: string): Promise<StepOutcome>;
  hook(host: string, argv: readonly string[] | undefined): Promise<StepOutcome>;
  healthy(host: string): Promise<StepOutcome>;
  /** Move `residents` still alive and elsewhere back to `host`. */
  returnVms(host: string, residents: readonly { name: string; uuid: string }[]): Promise<StepOutcome>;
}

/** What the roll tells as it goes: the journal (required), webhooks, metrics, the terminal. */
export interface RollReporting {
  journal: { append(entry: MaintenanceJournalEntry): Promise<void> };
  /** A webhook event: `maintenance.roll` (started, stopped, finished, abandoned) or `maintenance.step`. */
  notify?(event: 'maintenance.roll' | 'maintenance.step', data: Record<string, unknown>, atMs: number): void;
  metrics?: {
    maintenanceRollHost: { set(value: number): void };
    maintenanceRollHosts: { set(value: number): void };
    maintenanceRollStep: { set(labels: { step: string }, value: number): void };
    maintenanceStepsTotal: { inc(labels: { step: string; outcome: string }): void };
  };
  /** Each entry as it is journaled (the command prints it). */
  onEntry?(entry: MaintenanceJournalEntry, position: { index: number; of: number } | undefined): void;
  now?(): number;
}

/** What the operator asked for this run. */
export interface RollRequest {
  /** Host names in order; undefined: the config's order (or the unfinished roll's). */
  hosts?: string[];
  returnVms: boolean;
  /** The hook given with this request (--hook); it wins over the roll's and the config's. */
  hook?: string[];
  /** maintenance.hook of the config as it is now. */
  configHook?: string[];
  /** Continue the unfinished roll; refuse when there is none. */
  resume?: boolean;
  /** Abandon an unfinished roll and start a new one. */
  fresh?: boolean;
}

/**
 * The roll this run carries out: the unfinished one from the journal (resumed when asked, or when
 * the same hosts are asked again), or a new one. `entries`: the journal's (planning set holds the
 * last roll). `configHosts`: the config's host names in order.
 * @throws RequestRefused 'unknown-host' (a --hosts name not in the config), 'no-roll-to-resume',
 *   'roll-unfinished' (another roll is unfinished and neither --resume nor --fresh was given).
 */
export function chooseRoll(
  entries: readonly JournalEntry[],
  request: RollRequest,
  configHosts: readonly string[],
): { roll: RollProgress; resumed: boolean; abandoned?: RollProgress } {
  for (const h of request.hosts ?? [])
    if (!configHosts.includes(h)) throw new RequestRefused('unknown-host', `unknown host "${h}" in --hosts; hosts in the config: ${configHosts.join(', ')}`);
  if (request.hosts && new Set(request.hosts).size !== request.hosts.length)
    throw new RequestRefused('unknown-host', `--hosts names a host twice (${request.hosts.join(',')}); name each host once`);
  const unfinished = unfinishedRoll(entries);
  if (request.resume && !unfinished)
    throw new RequestRefused('no-roll-to-resume', 'no unfinished maintenance roll in the journal to resume; start one without --resume');
  if (unfinished && !request.fresh) {
    const sameHosts = request.hosts === undefined || request.hosts.join(',') === unfinished.plan.hosts.join(',');
    if (request.resume || sameHosts)
      return { roll: { ...unfinished, plan: { ...unfinished.plan, hook: resumedHook(unfinished.plan, request) } }, resumed: true };
    const at = nextStep(unfinished);
    throw new RequestRefused(
      'roll-unfinished',
      `maintenance roll ${unfinished.plan.rollId} of ${unfinished.plan.hosts.join(', ')} is unfinished${at ? ` (at ${at.host}, step ${at.step})` : ''}; continue it with --resume, or abandon it and start this one with --fresh`,
    );
  }
  const plan: RollPlan = {
    rollId: randomUUID().slice(0, 8),
    hosts: request.hosts ?? [...configHosts],
    returnVms: request.returnVms,
    ...((request.hook ?? request.configHook) ? { hook: request.hook ?? request.configHook } : {}),
  };
  return { roll: { plan, status: 'running', done: new Map(), residents: new Map() }, resumed: false, ...(unfinished ? { abandoned: unfinished } : {}) };
}

/**
 * The hook a resumed roll runs: --hook when given (a fixed one); else the roll's own (started with
 * --hook or the config's) or the config's, when only one of them is there or they agree. A roll
 * resumed with no hook where it had one would report hosts maintained that were never updated.
 * @throws RequestRefused 'hook-differs' when the roll's hook and the config's differ: say which with --hook.
 */
function resumedHook(plan: RollPlan, request: RollRequest): string[] | undefined {
  if (request.hook) return request.hook;
  const own = plan.hook;
  const configured = request.configHook;
  if (!own || !configured || JSON.stringify(own) === JSON.stringify(configured)) return own ?? configured;
  throw new RequestRefused(
    'hook-differs',
    `maintenance roll ${plan.rollId} was started with the hook ${JSON.stringify(own)}, and maintenance.hook is now ${JSON.stringify(configured)}: say which to run with --hook '<json>' and --resume`,
  );
}

/** How a roll ended this run. */
export interface RollResult {
  rollId: string;
  hosts: string[];
  ok: boolean;
  /** Where and why it stopped (ok false). */
  stop?: { host: string; step: MaintenanceStep; code: MaintenanceStopCode; detail: string };
  /** Hosts this run finished (not the ones a previous run had). */
  finishedHosts: string[];
  resumed: boolean;
}

/**
 * Carry out `chosen` (chooseRoll) step by step from where it stands. Never throws for a failed
 * step: the roll stops (journaled `roll-stopped`) and the result says where and why.
 */
export async function runRoll(chosen: ReturnType<typeof chooseRoll>, steps: RollSteps, reporting: RollReporting): Promise<RollResult> {
  const { roll, resumed } = chosen;
  const { plan } = roll;
  const now = reporting.now ?? Date.now;
  const of = plan.hosts.length;
  const record = async (e: Omit<MaintenanceJournalEntry, 'type' | 'atMs' | 'rollId'>, index?: number) => {
    const entry: MaintenanceJournalEntry = { type: 'maintenance', atMs: now(), rollId: plan.rollId, ...e };
    await reporting.journal.append(entry);
    const position = index === undefined ? undefined : { index: index + 1, of };
    const isStep = e.event.startsWith('step-');
    reporting.notify?.(isStep ? 'maintenance.step' : 'maintenance.roll', { ...entry, ...(position ?? {}) }, entry.atMs);
    reporting.onEntry?.(entry, position);
  };
  const metrics = reporting.metrics;
  const showStep = (step: MaintenanceStep | undefined) => {
    for (const s of stepsOf({ returnVms: true })) metrics?.maintenanceRollStep.set({ step: s }, s === step ? 1 : 0);
  };
  metrics?.maintenanceRollHosts.set(of);
  if (chosen.abandoned) await record({ event: 'roll-abandoned', hosts: chosen.abandoned.plan.hosts, detail: `abandoned for roll ${plan.rollId} (--fresh)` });
  if (!resumed) await record({ event: 'roll-started', hosts: plan.hosts, returnVms: plan.returnVms, ...(plan.hook ? { hook: plan.hook } : {}) });
  const finishedHosts: string[] = [];
  try {
    for (let at = nextStep(roll); at; at = nextStep(roll)) {
      const { index, host, step } = at;
      metrics?.maintenanceRollHost.set(index + 1);
      showStep(step);
      const residents = step === 'drain' ? (roll.residents.get(host) ?? (await steps.residents(host))) : undefined;
      if (residents) roll.residents.set(host, residents);
      await record({ event: 'step-started', host, step, ...(residents ? { residents } : {}) }, index);
      const started = now();
      const outcome = await runStep(steps, step, host, plan, roll.residents.get(host) ?? []);
      const seconds = (now() - started) / 1000;
      const { ok: _ok, ...fields } = outcome;
      metrics?.maintenanceStepsTotal.inc({ step, outcome: outcome.ok ? 'done' : 'failed' });
      if (!outcome.ok) {
        await record({ event: 'step-failed', host, step, seconds, ...fields }, index);
        await record({ event: 'roll-stopped', host, step, code: outcome.code, detail: outcome.detail }, index);
        return { rollId: plan.rollId, hosts: plan.hosts, ok: false, stop: { host, step, code: outcome.code, detail: outcome.detail }, finishedHosts, resumed };
      }
      await record({ event: 'step-done', host, step, seconds, ...fields }, index);
      roll.done.set(host, (roll.done.get(host) ?? new Set()).add(step));
      if (stepsOf(plan).every((s) => roll.done.get(host)?.has(s))) finishedHosts.push(host);
    }
    await record({ event: 'roll-finished', hosts: plan.hosts });
    return { rollId: plan.rollId, hosts: plan.hosts, ok: true, finishedHosts, resumed };
  } finally {
    metrics?.maintenanceRollHost.set(0);
    showStep(undefined);
  }
}

function runStep(steps: RollSteps, step: MaintenanceStep, host: string, plan: RollPlan, residents: { name: string; uuid: string }[]): Promise<StepOutcome> {
  if (step === 'drain') return steps.drain(host);
  if (step === 'hook') return steps.hook(host, plan.hook);
  if (step === 'healthy') return steps.healthy(host);
  return steps.returnVms(host, residents);
}
