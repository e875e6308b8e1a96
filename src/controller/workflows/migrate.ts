/**
 * An operator's single move: one VM to a named host, with the technique the cost model picks (or
 * the one given), through the engine's technique step and hard limits (planRequested). Refusals
 * come as RequestRefused codes; a pinned VM (policy.pinnedVms, a `pinned` tag) is refused, as
 * balancing and drains never move it.
 */
import type { ClusterState, VmObservation } from '../../cluster/model.js';
import type { Config } from '../../config/index.js';
import type { MigrationProgress, MigrationResult } from '../../executor/index.js';
import type { Move, Technique } from '../../policy/index.js';
import { RequestRefused } from '../errors.js';
import { planRequested } from '../pipeline.js';
import type { Session } from '../session.js';
import type { WorkflowContext } from './context.js';

/** What the operator asked: `technique` 'auto' lets the cost model pick. */
export interface MigrateRequest {
  vm: string;
  to: string;
  technique: 'auto' | Technique;
}

/**
 * An explicit --technique that cannot move a VM in its state: cold moves only a shut-off VM (its
 * definition, VIR_MIGRATE_PERSIST_DEST without VIR_MIGRATE_LIVE), and a shut-off VM has no memory
 * for a live technique to copy. Undefined when they fit (or with auto, which picks by state).
 */
export function techniqueStateProblem(vm: { name: string; state: string }, technique: string): string | undefined {
  if (technique === 'auto') return undefined;
  if (technique === 'cold' && vm.state !== 'shutoff')
    return `VM "${vm.name}" is ${vm.state}: --technique cold moves only a shut-off VM; shut it off first, or use a live technique (or auto)`;
  if (technique !== 'cold' && vm.state === 'shutoff')
    return `VM "${vm.name}" is shut off: it has no memory for ${technique} to copy, so it moves only cold; use --technique cold (or auto)`;
  return undefined;
}

/** @throws RequestRefused 'unknown-host' when the target is not in the config (`configFile` named in the message). */
export function checkTargetHost(config: Config, to: string, configFile: string): void {
  if (!config.hosts.some((h) => h.name === to))
    throw new RequestRefused('unknown-host', `unknown host "${to}"; hosts in ${configFile}: ${config.hosts.map((h) => h.name).join(', ')}`);
}

/**
 * Why `vm` is pinned (never moves, as balancing and drains keep it): listed in policy.pinnedVms,
 * or tagged `pinned` in its libvirt metadata. Undefined when it is not.
 */
export function pinnedBy(vm: Pick<VmObservation, 'name' | 'tags'>, config: Pick<Config, 'policy'>): string | undefined {
  if (config.policy.pinnedVms.includes(vm.name)) return `listed in policy.pinnedVms; take it out of the list to move it`;
  if (vm.tags.includes('pinned')) return `tagged "pinned" in its libvirt metadata; remove the tag to move it`;
  return undefined;
}

/** The VM that would move, checked against what the hosts show and the pins. @throws RequestRefused naming what is wrong. */
function movableVm(state: ClusterState, request: MigrateRequest, config: Pick<Config, 'policy'>): VmObservation {
  const vm = state.vms.find((v) => v.name === request.vm);
  if (!vm) {
    const down = state.hosts.filter((h) => !h.up).map((h) => h.name);
    throw new RequestRefused('vm-not-found', `VM "${request.vm}" was not found on any reachable host${down.length ? ` (down: ${down.join(', ')})` : ''}`);
  }
  if (vm.host === request.to) throw new RequestRefused('already-on-target', `VM "${vm.name}" already runs on ${request.to}`);
  const pin = pinnedBy(vm, config);
  if (pin) throw new RequestRefused('vm-pinned', `VM "${vm.name}" is pinned (${pin}): it never moves, so it stays on ${vm.host}`);
  const target = state.hosts.find((h) => h.name === request.to);
  if (!target?.up) throw new RequestRefused('target-down', `target host ${request.to} is down: ${target?.downReason ?? 'not observed'}`);
  if (vm.jobRunning) throw new RequestRefused('job-running', `VM "${vm.name}" already has a job running on ${vm.host}`);
  const mismatch = techniqueStateProblem(vm, request.technique);
  if (mismatch) throw new RequestRefused('technique-state', mismatch);
  return vm;
}

/**
 * The engine's move for the request on `state`, the VM's dirty rate measured now when it runs
 * (technique policies narrow an operator's move too). @throws RequestRefused.
 */
export async function planMigration(ctx: WorkflowContext, state: ClusterState, request: MigrateRequest): Promise<{ vm: VmObservation; move: Move }> {
  const vm = movableVm(state, request, ctx.config);
  const measured =
    vm.state === 'running' ? await ctx.collector.measureDirtyRates([vm.uuid], ctx.config.policy.dirtyRateMeasureSeconds) : new Map<string, number>();
  const dirtyRateMiBps = measured.get(vm.uuid) ?? 0;
  const observed = { ...state, vms: state.vms.map((v) => (v.uuid === vm.uuid ? { ...v, dirtyRateMiBps } : v)) };
  const auto = request.technique === 'auto';
  const reason = auto ? `requested; technique chosen by the cost model (dirty rate ${dirtyRateMiBps} MiB/s)` : 'requested with an explicit technique';
  const planned = await planRequested(
    observed,
    { vmUuid: vm.uuid, to: request.to, reason, techniques: auto ? undefined : [request.technique as Technique] },
    { config: ctx.config, policies: ctx.policies, history: ctx.history },
  );
  if ('refused' in planned)
    throw new RequestRefused(
      'engine-refused',
      `cannot move ${vm.name} ${vm.host} -> ${request.to}: ${planned.refused} (${planned.hardLimit ? 'a hard limit: choose another target' : 'pick another --technique or upgrade the host'})`,
    );
  return { vm, move: planned.move };
}

/** Run the move now through the context's executor (journaled, notified, counted). */
export function carryOutMove(ctx: WorkflowContext, move: Move, onProgress?: (p: MigrationProgress) => void): Promise<MigrationResult> {
  return ctx.executor.runNow(move, { onProgress });
}

/**
 * The move run by a one-shot command itself (no daemon): the state-directory lock held, the
 * policies loaded, the hosts collected with the history, planned and carried out.
 */
export async function migrateHere(
  session: Session,
  request: MigrateRequest,
  hooks: { onPlanned?: (vm: VmObservation, move: Move) => void; onProgress?: (p: MigrationProgress) => void } = {},
): Promise<MigrationResult> {
  await session.lock(`migrate ${request.vm} ${request.to}`);
  // Technique policies narrow an operator's move too, as they do the planner's.
  await session.policies();
  const state = await session.collect({ sampleIntervalMs: 200, withHistory: true });
  const ctx = await session.workflowContext();
  const planned = await planMigration(ctx, state, request);
  hooks.onPlanned?.(planned.vm, planned.move);
  return carryOutMove(ctx, planned.move, hooks.onProgress);
}
