/**
 * What operators run without virt-balancer, as replay balancers:
 * - never: no live migration at all.
 * - threshold-biggest: a static CPU threshold; while a host is above it, move its busiest VM to
 *   the least-loaded host that stays below the threshold with it (the ProxLB / simple-script shape).
 * - threshold-random: the same trigger, but a random VM of the hot host moves.
 * They look at the last sample only, as such scripts do.
 */
import type { Balancer, ReplayMove, ReplayView } from './replay.js';

export const neverMigrate: Balancer = {
  name: 'never',
  description: 'never migrate',
  decide: () => [],
};

type VmChooser = (view: ReplayView, candidates: number[], demandOf: (vm: number) => number) => number;

function thresholdBalancer(name: string, description: string, thresholdRatio: number, maxMovesPerTick: number, chooseVm: VmChooser): Balancer {
  return {
    name,
    description,
    decide(view) {
      const hostCount = view.hosts.length;
      const demand = new Float64Array(hostCount);
      const memoryUsed = new Float64Array(hostCount);
      const members: number[][] = [];
      for (let h = 0; h < hostCount; h++) {
        demand[h] = view.hostDemandMips(h);
        memoryUsed[h] = view.hostMemoryUsedMiB(h);
        members.push([...view.vmsOn(h)]);
      }
      const util = (h: number) => demand[h] / view.hosts[h].capacityMips;
      const hot = [...Array(hostCount).keys()].filter((h) => util(h) > thresholdRatio).sort((a, b) => util(b) - util(a));
      const moves: ReplayMove[] = [];
      for (const source of hot) {
        while (util(source) > thresholdRatio && members[source].length > 0) {
          if (maxMovesPerTick > 0 && moves.length >= maxMovesPerTick) return moves;
          const vm = chooseVm(view, members[source], (v) => view.vmDemandMips(v));
          const vmDemand = view.vmDemandMips(vm);
          const vmMemory = view.vms[vm].memoryMiB;
          let best = -1;
          for (let h = 0; h < hostCount; h++) {
            if (h === source) continue;
            if (memoryUsed[h] + vmMemory > view.hosts[h].memoryMiB) continue;
            if ((demand[h] + vmDemand) / view.hosts[h].capacityMips > thresholdRatio) continue;
            if (best < 0 || util(h) < util(best)) best = h;
          }
          if (best < 0) break; // nowhere to put it: the script gives up on this host
          moves.push({ vm, to: best, reason: `${view.hosts[source].name} at ${(util(source) * 100).toFixed(0)}% > ${thresholdRatio * 100}%` });
          members[source].splice(members[source].indexOf(vm), 1);
          members[best].push(vm);
          demand[source] -= vmDemand;
          demand[best] += vmDemand;
          memoryUsed[source] -= vmMemory;
          memoryUsed[best] += vmMemory;
        }
      }
      return moves;
    },
  };
}

export function thresholdBiggest(thresholdRatio: number, maxMovesPerTick = 0): Balancer {
  return thresholdBalancer(
    'threshold-biggest',
    `CPU > ${thresholdRatio * 100}%: move the busiest VM to the least-loaded host`,
    thresholdRatio,
    maxMovesPerTick,
    (_view, candidates, demandOf) => candidates.reduce((best, v) => (demandOf(v) > demandOf(best) ? v : best)),
  );
}

export function thresholdRandom(thresholdRatio: number, maxMovesPerTick = 0): Balancer {
  return thresholdBalancer(
    'threshold-random',
    `CPU > ${thresholdRatio * 100}%: move a random VM to the least-loaded host`,
    thresholdRatio,
    maxMovesPerTick,
    (view, candidates) => candidates[Math.floor(view.random() * candidates.length)],
  );
}
