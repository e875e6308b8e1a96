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
  // The memory the engine carries between ticks (spread hold) must advance once per tick: the
  // first plan works on a copy, kept only when there is no second plan.
  const memory = planOptions.memory;
  const probe = memory ? { spreadHeldTicks: new Map(memory.spreadHeldTicks) } : undefined;
  const first = await plan(state, { ...planOptions, memory: probe });
  const nowMs = options.nowMs ?? Date.now();
  const vmsByUuid = new Map(state.vms.map((v) => [v.uuid, v]));
  const toMeasure = first.moves.filter((m) => {
    const vm = vmsByUuid.get(m.vmUuid);
    return (
      m.technique !== 'cold' && vm?.state === 'running' && (vm.dirtyRateMeasuredAtMs === undefined || nowMs - vm.dirtyRateMeasuredAtMs > options.staleAfterMs)
    );
  });
  if (toMeasure.length === 0) {
    if (memory && probe) memory.spreadHeldTicks = probe.spreadHeldTicks;
    return { state, plan: first };
  }
  const rates = await collector.measureDirtyRates(
    toMeasure.map((m) => m.vmUuid),
    options.measureSeconds,
  );
  const measuredAtMs = Date.now();
  const measured = {
    ...state,
    vms: state.vms.map((v) => (rates.has(v.uuid) ? { ...v, dirtyRateMiBps: rates.get(v.uuid), dirtyRateMeasuredAtMs: measuredAtMs } : v)),
  };
  return { state: measured, plan: await plan(measured, planOptions) };
}
