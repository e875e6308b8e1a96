/**
 * Plan, measure the dirty rate of the VMs about to move (libvirt's calculation costs the guest a
 * little, so only candidates, and only when the last measurement is stale), then plan again with
 * the measured rates. Used by the loop, `plan` and `drain`.
 */
import type { Collector } from '../cluster/collector.js';
import type { ClusterState } from '../cluster/model.js';
import { plan, type Plan, type PlanOptions } from '../policy/index.js';

export async function planMeasuringCandidates(
  state: ClusterState,
  collector: Collector,
  planOptions: PlanOptions,
  options: { measureSeconds: number; staleAfterMs: number; nowMs?: number },
): Promise<{ state: ClusterState; plan: Plan }> {
  const first = await plan(state, planOptions);
  const nowMs = options.nowMs ?? Date.now();
  const toMeasure = first.moves.filter((m) => {
    const vm = state.vms.find((v) => v.uuid === m.vmUuid);
    return m.technique !== 'cold' && vm?.state === 'running' && (vm.dirtyRateMeasuredAtMs === undefined || nowMs - vm.dirtyRateMeasuredAtMs > options.staleAfterMs);
  });
  if (toMeasure.length === 0) return { state, plan: first };
  const rates = await collector.measureDirtyRates(toMeasure.map((m) => m.vmUuid), options.measureSeconds);
  const measuredAtMs = Date.now();
  const measured = { ...state, vms: state.vms.map((v) => (rates.has(v.uuid) ? { ...v, dirtyRateMiBps: rates.get(v.uuid), dirtyRateMeasuredAtMs: measuredAtMs } : v)) };
  return { state: measured, plan: await plan(measured, planOptions) };
}
