/**
 * Admission: which planned moves may start now. Limits cluster-wide, per source and per target
 * host, a bandwidth budget, one job per VM, hosts that are up and not in maintenance. Pure, so it
 * is unit-tested. Cooldown is not checked here: it is a planning rule (policy/candidates.ts) over
 * the one history that keeps last-moved times (history/decision-history.ts).
 */
import type { ClusterState } from '../cluster/model.js';
import type { MigrationConfig } from '../config/migration-schema.js';
import type { Move } from '../policy/plan-types.js';

export interface RunningMove {
  vmUuid: string;
  from: string;
  to: string;
  bandwidthMiBps: number;
}

export interface AdmissionResult {
  admitted: Move[];
  rejected: { move: Move; reason: string }[];
}

export function admit(moves: readonly Move[], running: readonly RunningMove[], state: ClusterState, config: MigrationConfig): AdmissionResult {
  const active = [...running];
  const admitted: Move[] = [];
  const rejected: { move: Move; reason: string }[] = [];
  const hosts = new Map(state.hosts.map((h) => [h.name, h]));
  for (const move of moves) {
    const reject = (reason: string) => rejected.push({ move, reason });
    const from = hosts.get(move.from);
    const to = hosts.get(move.to);
    if (!from?.up) {
      reject(`source host ${move.from} is down`);
      continue;
    }
    if (!to?.up) {
      reject(`target host ${move.to} is down`);
      continue;
    }
    if (to.maintenance) {
      reject(`target host ${move.to} is in maintenance`);
      continue;
    }
    if (active.some((r) => r.vmUuid === move.vmUuid) || state.inFlight.some((m) => m.vmUuid === move.vmUuid)) {
      reject('a migration of this VM is already running');
      continue;
    }
    if (active.length + state.inFlight.filter((m) => !active.some((a) => a.vmUuid === m.vmUuid)).length >= config.maxConcurrent) {
      reject(`${config.maxConcurrent} migrations already running (migration.maxConcurrent)`);
      continue;
    }
    if (active.filter((r) => r.from === move.from).length >= config.maxPerSourceHost) {
      reject(`source ${move.from} already sends ${config.maxPerSourceHost} (migration.maxPerSourceHost)`);
      continue;
    }
    if (active.filter((r) => r.to === move.to).length >= config.maxPerTargetHost) {
      reject(`target ${move.to} already receives ${config.maxPerTargetHost} (migration.maxPerTargetHost)`);
      continue;
    }
    const bandwidth = config.bandwidthMiBps > 0 ? config.bandwidthMiBps : move.inputs.bandwidthMiBps;
    if (config.bandwidthBudgetMiBps > 0 && active.reduce((s, r) => s + r.bandwidthMiBps, 0) + bandwidth > config.bandwidthBudgetMiBps) {
      reject(`bandwidth budget of ${config.bandwidthBudgetMiBps} MiB/s in use (migration.bandwidthBudgetMiBps)`);
      continue;
    }
    active.push({ vmUuid: move.vmUuid, from: move.from, to: move.to, bandwidthMiBps: bandwidth });
    admitted.push(move);
  }
  return { admitted, rejected };
}
