/**
 * A rolling maintenance's dry run (`maintenance --dry-run`): the roll simulated in order on the
 * observed cluster, moving nothing. Each host's drain is planned in rounds (drain-rounds.ts, as the
 * live drain) on the state the earlier hosts left: their drains' moves applied, and with --return
 * their VMs planned back home (the migrate workflow's checks). The first host where the real roll
 * would stop ends the simulation, with the step, the code and the reason.
 */
import type { ClusterState, HostObservation, VmObservation } from '../../cluster/model.js';
import type { MaintenanceStep } from '../../history/index.js';
import type { Move } from '../../policy/index.js';
import { memoryHeld } from '../../policy/memory-fit.js';
import { cpuShare } from '../../policy/projection.js';
import { RequestRefused } from '../errors.js';
import type { WorkflowContext } from './context.js';
import { drainInRounds } from './drain-rounds.js';
import { type MaintenanceStopCode, type RollProgress, stepsOf } from './maintenance-roll.js';
import { pinnedBy, planMigration } from './migrate.js';

/** One planned move of the dry run, with the cost model's predictions. */
export interface DryRunMove {
  vm: string;
  from: string;
  to: string;
  technique: string;
  predictedSeconds: number;
  predictedDowntimeMs: number;
}

/** One host's part of a dry run: its drain's moves (every round), its return moves, or why the roll would stop here. */
export interface DryRunHost {
  host: string;
  steps: string[];
  moves: DryRunMove[];
  /** With --return: the moves bringing its VMs back once it is healthy. */
  returns: DryRunMove[];
  /** With --return: its VMs the return step leaves where they are (pinned), and why. */
  notReturned: { vm: string; reason: string }[];
  /** VMs the drain cannot place: the roll would stop here (drain-cannot-place). */
  skipped: { vm: string; reason: string }[];
  /** A resumed roll: the steps this host had done (its drain is not planned again). */
  resumedAfter?: string[];
  /** A resumed roll: the host is drained and down now; the roll waits for it to be healthy (simulated as back up). */
  waitsForHost?: boolean;
  /** Why this host cannot be drained now (host-down...). */
  refused?: string;
  /** Sum of the drain moves' predicted durations, s: the drain's length if they ran one at a time. */
  predictedDrainSeconds: number;
  /** Sum of the return moves' predicted durations, s. */
  predictedReturnSeconds: number;
}

/** Where the real roll would stop: the simulation ends there (later hosts are not reached). */
export interface DryRunStop {
  host: string;
  step: MaintenanceStep;
  code: MaintenanceStopCode;
  detail: string;
}

const dryMove = (m: Move): DryRunMove => ({
  vm: m.vmName,
  from: m.from,
  to: m.to,
  technique: m.technique,
  predictedSeconds: m.predicted.totalSeconds,
  predictedDowntimeMs: m.predicted.downtimeMs,
});

/**
 * `state` with `moves` carried out: each VM on its target, the hosts' ordinary memory, free
 * hugepages and CPU moved with it (as policy/memory-fit.ts and projection.ts count them). A host's
 * CPU window loses its per-instant series (no longer the observed one): its mean, last and p90 shift.
 */
export function applyMoves(state: ClusterState, moves: readonly Move[]): ClusterState {
  const hosts = new Map(state.hosts.map((h) => [h.name, h]));
  const vms = new Map(state.vms.map((v) => [v.uuid, v]));
  const shift = (host: HostObservation, vm: VmObservation, sign: 1 | -1): HostObservation => {
    const cpu = sign * cpuShare(vm, host);
    // Ordinary memory, or a hugepage-backed VM's pages, as the planner counts them (a shut-off VM holds neither).
    const { ordinaryBytes, hugepages: pages } = memoryHeld(vm);
    const w = host.cpuUtilization;
    return {
      ...host,
      memoryUsedBytes: Math.max(0, host.memoryUsedBytes + sign * ordinaryBytes),
      cpuUtilization: { ...w, mean: Math.max(0, w.mean + cpu), last: Math.max(0, w.last + cpu), p90: Math.max(0, w.p90 + cpu), series: undefined },
      hugepages: host.hugepages?.map((p) => (pages && p.pageSizeKiB === pages.pageSizeKiB ? { ...p, freePages: p.freePages - sign * pages.pages } : p)),
    };
  };
  for (const m of moves) {
    const vm = vms.get(m.vmUuid);
    const from = hosts.get(m.from);
    const to = hosts.get(m.to);
    if (!vm || !from || !to || vm.host !== m.from) continue;
    hosts.set(from.name, shift(from, vm, -1));
    hosts.set(to.name, shift(to, vm, 1));
    vms.set(vm.uuid, { ...vm, host: to.name });
  }
  return { ...state, hosts: state.hosts.map((h) => hosts.get(h.name)!), vms: state.vms.map((v) => vms.get(v.uuid)!) };
}

/**
 * Simulate `roll` from its host `fromIndex` on `state` as observed now: per host its drain in
 * rounds on the state the earlier hosts left, then (returnVms) its residents planned back home.
 * Stops at the first host where the real roll would stop (a host flagged maintenance in the
 * config, down, a drain that cannot place a VM, a return refused). A resumed roll (`roll.done`)
 * goes on at each host's first step not done, as the real roll does: a drained host is not drained
 * again, and one down now (rebooting) is waited for, simulated as back up before its VMs return. Moves nothing. The simulated
 * moves do not enter the decision history: cooldowns and no-ping-pong see only real ones.
 * @returns the hosts simulated, and `stop` when the roll would stop (the last host is where).
 */
export async function dryRunRoll(
  ctx: WorkflowContext,
  state: ClusterState,
  roll: Pick<RollProgress, 'plan' | 'residents'> & { done?: RollProgress['done'] },
  fromIndex: number,
): Promise<{ hosts: DryRunHost[]; stop?: DryRunStop }> {
  const { plan } = roll;
  const hosts: DryRunHost[] = [];
  let sim = state;
  // The drain's rounds observe the simulated cluster; their moves are applied to it, never run.
  const simCtx: WorkflowContext = { ...ctx, observe: async () => sim };
  let returnStop: string | undefined;
  for (const host of plan.hosts.slice(fromIndex)) {
    const entry: DryRunHost = {
      host,
      steps: stepsOf(plan),
      moves: [],
      returns: [],
      notReturned: [],
      skipped: [],
      predictedDrainSeconds: 0,
      predictedReturnSeconds: 0,
    };
    hosts.push(entry);
    const stop = (step: MaintenanceStep, code: MaintenanceStopCode, detail: string) => ({ hosts, stop: { host, step, code, detail } });
    if (ctx.config.hosts.find((h) => h.name === host)?.maintenance) {
      entry.refused = `host-in-maintenance: ${host} is flagged maintenance: true in the config`;
      return stop(
        'drain',
        'host-in-maintenance',
        `${host} is flagged maintenance: true in the config (someone else's maintenance); the roll stops before its drain. Remove the flag when that is done, or leave ${host} out (--hosts)`,
      );
    }
    const residents = roll.residents.get(host) ?? sim.vms.filter((v) => v.host === host).map((v) => ({ name: v.name, uuid: v.uuid }));
    // A resumed roll goes on at the host's first step not done (maintenance-roll.ts nextStep).
    const done = roll.done?.get(host);
    if (done?.has('drain')) {
      entry.steps = entry.steps.filter((s) => !done.has(s as MaintenanceStep));
      entry.resumedAfter = [...done];
      if (!plan.returnVms || done.has('return')) continue;
      if (!sim.hosts.find((h) => h.name === host)?.up) {
        // Drained and down now (its hook's reboot): the roll waits for it to be healthy, then
        // returns its VMs; simulated as back up, so later hosts see the VMs home again.
        entry.waitsForHost = true;
        sim = { ...sim, hosts: sim.hosts.map((h) => (h.name === host ? { ...h, up: true, downReason: undefined } : h)) };
      }
      await planReturns(entry, residents);
      if (returnStop) return stop('return', 'return-refused', returnStop);
      continue;
    }
    let drained;
    try {
      drained = await drainInRounds(
        simCtx,
        sim,
        host,
        async (planned) => {
          sim = applyMoves(sim, planned.plan.moves);
          return { host, plan: planned.plan, results: [], notMoved: [], ok: true };
        },
        { stopAtUnplaceable: true },
      );
    } catch (error) {
      if (!(error instanceof RequestRefused)) throw error;
      entry.refused = `${error.code}: ${error.message}`;
      return stop(
        'drain',
        error.code === 'host-down' ? 'host-down' : 'drain-cannot-place',
        `${error.message}; ${error.code === 'host-down' ? `bring it back, or leave it out (--hosts)` : `make room or relax the rule (see \`virt-balancer drain ${host} --dry-run\`)`}`,
      );
    }
    entry.moves = drained.plan.moves.map(dryMove);
    entry.predictedDrainSeconds = entry.moves.reduce((sum, m) => sum + m.predictedSeconds, 0);
    if (drained.stopped) {
      entry.skipped = drained.plan.skipped.map((s) => ({ vm: s.vmName, reason: s.reason }));
      return stop(
        'drain',
        'drain-cannot-place',
        `the cluster cannot take ${host}'s VMs: ${entry.skipped.map((s) => `${s.vm}: ${s.reason}`).join('; ') || `still waiting for make-room moves after ${drained.rounds} rounds`}. Make room or relax the rule (see \`virt-balancer drain ${host} --dry-run\`), then run the roll`,
      );
    }
    if (!plan.returnVms) continue;
    await planReturns(entry, residents);
    if (returnStop) return stop('return', 'return-refused', returnStop);
  }
  return { hosts };

  /** With --return: `entry`'s residents planned back home on the simulated cluster; sets returnStop where the roll would stop. */
  async function planReturns(entry: DryRunHost, residents: readonly { name: string; uuid: string }[]): Promise<void> {
    const host = entry.host;
    for (const r of residents) {
      const vm = sim.vms.find((v) => v.uuid === r.uuid);
      if (!vm || vm.host === host) continue;
      const pin = pinnedBy(vm, ctx.config);
      if (pin) {
        entry.notReturned.push({ vm: vm.name, reason: `pinned: ${pin}` });
        continue;
      }
      try {
        const { move } = await planMigration(simCtx, sim, { vm: vm.name, to: host, technique: 'auto' });
        entry.returns.push(dryMove(move));
        sim = applyMoves(sim, [move]);
      } catch (error) {
        if (!(error instanceof RequestRefused)) throw error;
        returnStop = `${vm.name} cannot go back to ${host}: ${error.message}; run the roll without --return, or make room on ${host} for it`;
        return;
      }
    }
    entry.predictedReturnSeconds = entry.returns.reduce((sum, m) => sum + m.predictedSeconds, 0);
  }
}
