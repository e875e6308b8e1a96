/**
 * When to wake a standby host: the cluster needs capacity that no awake host has. Judged by the
 * engine itself, not by a second rule set: when this tick's plan left VMs unplaced, the same
 * plan is made again with the standby hosts shown as awake and empty (their capacity as journaled
 * when they were powered down); a move it sends to a standby host is a need only that host can
 * meet (hot-spot relief, forecast relief with policy.forecast, a maintenance drain or rule repair
 * without a target: consolidation's packing never targets an empty host). The host of the first
 * such move (must-moves come first) is woken, one at a time.
 */
import type { ClusterState, HostObservation } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import { plan, type Plan, type PlanOptions } from '../policy/index.js';
import type { PowerDecision } from './decide.js';
import type { PowerStates } from './states.js';

/** The state with the standby hosts up and empty (what-if); hosts of unknown capacity stay down. */
export function withStandbyAwake(state: ClusterState, states: PowerStates, windowSamples: number): { state: ClusterState; standby: Set<string> } {
  const standby = new Set<string>();
  const hosts = state.hosts.map((h): HostObservation => {
    if (h.power !== 'standby') return h;
    const cap = states.of(h.name).capacity;
    const cpuCount = h.cpuCount || cap?.cpuCount || 0;
    const memoryTotalBytes = h.memoryTotalBytes || cap?.memoryTotalBytes || 0;
    if (cpuCount === 0 || memoryTotalBytes === 0) return h;
    standby.add(h.name);
    return {
      ...h,
      up: true,
      power: undefined,
      downReason: undefined,
      cpuCount,
      memoryTotalBytes,
      memoryUsedBytes: 0,
      cpuUtilization: { last: 0, mean: 0, p90: 0, samples: windowSamples, slopePerSample: 0 },
    };
  });
  return { state: { ...state, hosts }, standby };
}

export interface WakeChoice {
  wake?: PowerDecision;
  /** A need a standby host would meet, held back (anti-flapping, or no way to wake it). */
  held?: { host: string; reason: string };
}

/**
 * The standby host to wake now, if any. `options` are this tick's plan options (plan memory is
 * not passed on: the what-if plan must not advance the spread hold).
 */
export async function chooseWake(
  state: ClusterState,
  tickPlan: Plan,
  states: PowerStates,
  config: Config,
  options: PlanOptions,
  nowMs: number,
): Promise<WakeChoice> {
  if (config.power.action === 'none') return {};
  // One wake at a time: capacity already on its way is awaited first.
  if (state.hosts.some((h) => h.power === 'waking')) return {};
  if (tickPlan.skipped.length === 0 || !state.hosts.some((h) => h.power === 'standby')) return {};
  const whatIf = withStandbyAwake(state, states, config.loop.windowSamples);
  if (whatIf.standby.size === 0) return {};
  const p = await plan(whatIf.state, { ...options, memory: undefined });
  const move = p.moves.find((m) => whatIf.standby.has(m.to));
  if (!move) return {};
  const host = move.to;
  const reason = `${move.vmName} on ${move.from} has no target among awake hosts${move.mustMove ? ' (must-move)' : ''}; ${host} can take it (${move.reason})`;
  if (config.power.action === 'node-suspend' && !config.power.powerOnCommand)
    return { held: { host, reason: `${reason}; not woken: with node-suspend and no power.powerOnCommand it wakes only by its alarm` } };
  const standbySince = states.of(host).standbySinceMs ?? 0;
  const inStandbySeconds = (nowMs - standbySince) / 1000;
  if (!move.mustMove && inStandbySeconds < config.power.minStandbySeconds)
    return {
      held: {
        host,
        reason: `${reason}; held: standby for ${inStandbySeconds.toFixed(0)} s, woken after power.minStandbySeconds (${config.power.minStandbySeconds} s) unless a must-move needs it`,
      },
    };
  return { wake: { host, action: 'power-on', reason, mustMove: Boolean(move.mustMove) } };
}
