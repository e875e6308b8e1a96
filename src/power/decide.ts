/**
 * The power decisions that need no plan of their own (no network, no clock but `nowMs`):
 * - `powerTransitions`: what the hosts' reachability says about actions under way (a host being
 *   powered down stopped answering: done; a woken host answers again: done; either past its
 *   timeout: failed; a standby host answering again was woken by something else);
 * - `markPowerStates`: the observed state with each host's power state, so planning never targets
 *   a host that is not awake and status / plan show it;
 * - `choosePowerOffs`: which emptied hosts to power down this tick (at most one).
 * Waking needs a what-if plan: wake.ts.
 */
import { holdsMemory, type ClusterState, type HostObservation } from '../cluster/model.js';
import type { Config } from '../config/index.js';
import type { PowerJournalEntry } from '../history/index.js';
import type { Plan } from '../policy/index.js';
import { headroomHostsOf, headroomShortfall } from '../policy/headroom.js';
import type { PowerStates } from './states.js';

/** A power action the planner wants, with its reason. */
export interface PowerDecision {
  host: string;
  action: 'power-off' | 'power-on';
  reason: string;
  /** A must-move (maintenance, a rule) needs the woken host: it runs under automation partial and skips minStandbySeconds. */
  mustMove?: boolean;
}

/** A step of an action under way, to journal (method and timing filled in). */
export type PowerTransition = Omit<PowerJournalEntry, 'type' | 'atMs' | 'method'>;

/** What the hosts' reachability this tick says about the power actions under way. */
export function powerTransitions(state: ClusterState, states: PowerStates, config: Config, nowMs: number): PowerTransition[] {
  const out: PowerTransition[] = [];
  for (const host of state.hosts) {
    const p = states.of(host.name);
    const since = (p.requestedAtMs ?? p.sinceMs) || nowMs;
    const seconds = (nowMs - since) / 1000;
    if (p.state === 'powering-off') {
      if (!host.up) out.push({ host: host.name, action: 'power-off', event: 'done', seconds });
      else if (seconds > config.power.powerOffTimeoutSeconds)
        out.push({
          host: host.name,
          action: 'power-off',
          event: 'failed',
          seconds,
          detail: `still answers libvirt ${seconds.toFixed(0)} s after the power-off action (power.powerOffTimeoutSeconds ${config.power.powerOffTimeoutSeconds}); awake again`,
        });
    } else if (p.state === 'waking') {
      if (host.up) out.push({ host: host.name, action: 'power-on', event: 'done', seconds });
      else if (seconds > config.power.wakeTimeoutSeconds)
        out.push({
          host: host.name,
          action: 'power-on',
          event: 'failed',
          seconds,
          detail: `does not answer libvirt ${seconds.toFixed(0)} s after the power-on action (power.wakeTimeoutSeconds ${config.power.wakeTimeoutSeconds}): ${host.downReason ?? 'unreachable'}; still standby`,
        });
    } else if (p.state === 'standby' && host.up) {
      out.push({
        host: host.name,
        action: 'power-on',
        event: 'done',
        detail: 'answers libvirt again while in standby (woken by its alarm or by someone else); awake',
      });
    }
  }
  return out;
}

/** The state with each host's power state set (`power`), and standby hosts' down reason saying so. */
export function markPowerStates(state: ClusterState, states: PowerStates): ClusterState {
  const notAwake = states.notAwake();
  if (notAwake.size === 0) return state;
  return {
    ...state,
    hosts: state.hosts.map((h): HostObservation => {
      const p = notAwake.get(h.name);
      if (!p || p.state === 'awake') return h;
      const since = new Date(p.sinceMs).toISOString();
      const downReason = h.up ? h.downReason : `${p.state === 'standby' ? 'standby' : p.state} since ${since} (power action; not an alarm)`;
      return { ...h, power: p.state, downReason };
    }),
  };
}

/**
 * Emptied hosts to power down now: with power.action set and goal consolidate, an awake host that
 * is up, not in maintenance, holds no VM's memory (shut-off definitions may stay), is no source or
 * target of a move planned or running, and was not woken within power.minAwakeSeconds; at most one
 * per tick (the smallest first: big hosts do more per watt), never below power.minAwakeHosts.
 */
export function choosePowerOffs(state: ClusterState, plan: Plan, states: PowerStates, config: Config, nowMs: number): PowerDecision[] {
  if (config.power.action === 'none' || config.policy.goal !== 'consolidate') return [];
  const awake = state.hosts.filter((h) => h.up && !h.power && !h.maintenance);
  if (awake.length <= config.power.minAwakeHosts) return [];
  const busy = new Set<string>();
  for (const m of [...plan.moves, ...state.inFlight]) busy.add(m.from).add(m.to);
  const holding = new Set(state.vms.filter((v) => holdsMemory(v.state)).map((v) => v.host));
  const candidates = awake
    .filter((h) => !holding.has(h.name) && !busy.has(h.name))
    .filter((h) => powerOffHold(states, h, config, nowMs) === undefined)
    .sort((a, b) => a.cpuCount - b.cpuCount || a.name.localeCompare(b.name));
  // Failover headroom (policy.headroom): an empty awake host is room for a failed host's VMs.
  const host = candidates.find((h) => headroomWithout(state, plan.moves, h, config) === undefined);
  if (!host) return [];
  return [
    {
      host: host.name,
      action: 'power-off',
      reason: `consolidate: ${host.name} holds no VM and no move involves it; ${awake.length - 1} host(s) stay awake (power.minAwakeHosts ${config.power.minAwakeHosts})`,
    },
  ];
}

/** Why powering `host` down would break the failover headroom the cluster has now (policy.headroom), or undefined. */
function headroomWithout(state: ClusterState, moves: Plan['moves'], host: HostObservation, config: Config): string | undefined {
  const k = config.policy.headroom.hostFailures;
  if (k <= 0) return undefined;
  const after = headroomShortfall(headroomHostsOf(state, moves, host.name), k);
  if (!after) return undefined;
  // Also when the cluster is already below it: a powered-down host is room a failure cannot use.
  return `powering ${host.name} down would leave the cluster without its failover headroom (policy.headroom.hostFailures ${k}): ${after}`;
}

/** Why each awake, empty host is not powered down now (for `plan`): anti-flapping holds, failover headroom. */
export function powerOffHolds(state: ClusterState, states: PowerStates, config: Config, nowMs: number): { host: string; reason: string }[] {
  if (config.power.action === 'none' || config.policy.goal !== 'consolidate') return [];
  const holding = new Set(state.vms.filter((v) => holdsMemory(v.state)).map((v) => v.host));
  const out: { host: string; reason: string }[] = [];
  for (const h of state.hosts) {
    if (!h.up || h.power || holding.has(h.name)) continue;
    const reason = powerOffHold(states, h, config, nowMs) ?? (h.maintenance || h.power ? undefined : headroomWithout(state, [], h, config));
    if (reason) out.push({ host: h.name, reason });
  }
  return out;
}

/**
 * Why a host is not powered down now: with node-suspend, its capabilities do not list the target
 * (so plan shows it, rather than the suspend failing when carried out); anti-flapping: woken, or a
 * power-off of it failed, within power.minAwakeSeconds.
 */
function powerOffHold(states: PowerStates, h: HostObservation, config: Config, nowMs: number): string | undefined {
  const target = config.power.suspend.target;
  if (config.power.action === 'node-suspend' && h.suspendTargets && !h.suspendTargets.includes(target))
    return `empty, but its capabilities' <power_management> lists ${h.suspendTargets.length ? h.suspendTargets.map((t) => `suspend_${t}`).join(', ') : 'nothing'}, not suspend_${target}; set power.suspend.target to one it lists, or use power.action: command`;
  const p = states.of(h.name);
  const limitMs = config.power.minAwakeSeconds * 1000;
  if (p.powerOffFailedAtMs !== undefined && nowMs - p.powerOffFailedAtMs < limitMs)
    return `empty, but a power-off of it failed ${((nowMs - p.powerOffFailedAtMs) / 1000).toFixed(0)} s ago; not tried again before power.minAwakeSeconds (${config.power.minAwakeSeconds} s)`;
  if (p.awakeSinceMs !== undefined && nowMs - p.awakeSinceMs < limitMs)
    return `empty, but woken ${((nowMs - p.awakeSinceMs) / 1000).toFixed(0)} s ago; not powered down before power.minAwakeSeconds (${config.power.minAwakeSeconds} s)`;
  return undefined;
}
