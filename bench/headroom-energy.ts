/**
 * What failover headroom (policy.headroom) costs in energy under consolidation: one PlanetLab day
 * replayed (bench/traces) with the trace bench's `consolidate` variant, with and without
 * policy.headroom.hostFailures 1, on a cloudsim-800-like cluster cut down to HOSTS hosts and the
 * first VMS VMs of the day (the same hosts-to-VMs ratio as cloudsim-800's 800 to about 1,050), so
 * the headroom check (every VM of every host against every host, per target tried) stays within
 * minutes on a shared machine. Not part of `npm run bench`:
 *
 *   npx tsx bench/headroom-energy.ts [day] [hosts] [vms] [scenario: cloudsim-800 | cloudsim-800-as-cloudsim]
 *
 * Prints energy, migrations and SLATAH of both arms. With VB_EMPTY_STANDBY=1 the planner sees hosts
 * that hold no VM as in standby (powered down, as the replay's energy counts them; waking is not
 * modelled), so headroom weighs what power-off would take; otherwise empty hosts stay awake room.
 */
import { policySchema } from '../src/config/policy-schema.js';
import { plan } from '../src/policy/engine.js';
import '../policies/index.js';
import { engineBalancer } from './traces/engine-balancer.js';
import { DEFAULT_TRACE_INPUTS } from './traces/index.js';
import { loadTraceBenchInputs } from './traces/inputs.js';
import { loadTraceDay } from './traces/loader.js';
import { replayDay } from './traces/replay.js';

const [dayName = '20110303', hostsArg = '100', vmsArg = '131', baseName = 'cloudsim-800'] = process.argv.slice(2);
const inputs = await loadTraceBenchInputs(DEFAULT_TRACE_INPUTS);
const base = inputs.scenarios.find((s) => s.name === baseName)!;
const scenario = { ...base, name: `${baseName} cut to ${hostsArg} hosts`, hostCount: Number(hostsArg) };
const variant = inputs.engine.variants!.find((v) => v.name === 'consolidate')!;
const day = await loadTraceDay(process.env.VB_TRACES_DIR ?? inputs.tracesDir, dayName, { maxVms: Number(vmsArg) });
const windowed = { ...inputs, windowSamples: variant.windowSamples ?? inputs.windowSamples };
for (const hostFailures of [0, 1]) {
  const config = policySchema.parse({ ...inputs.engine.policyConfig, ...variant.policyConfig, headroom: { hostFailures } });
  const standby = process.env.VB_EMPTY_STANDBY === '1';
  const balancer = engineBalancer(
    (state, memory) => {
      if (!standby) return plan(state, { config, memory });
      const holding = new Set(state.vms.map((v) => v.host));
      const hosts = state.hosts.map((h) => (holding.has(h.name) ? h : { ...h, power: 'standby' as const }));
      return plan({ ...state, hosts }, { config, memory });
    },
    windowed,
    `consolidate, headroom ${hostFailures}`,
  );
  const t0 = performance.now();
  const r = await replayDay({ inputs: windowed, scenario, day, balancer });
  console.log(
    `${process.env.VB_EMPTY_STANDBY === '1' ? '[empty hosts in standby] ' : ''}${dayName} ${scenario.name} (${r.vmCount} VMs) consolidate headroom.hostFailures ${hostFailures}: energy ${r.energyKWh.toFixed(2)} kWh, mean active hosts ${r.meanActiveHosts.toFixed(1)}, ${r.migrations} migrations, SLATAH ${(r.sla.slatah * 100).toFixed(3)} %, errors ${r.errors.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
}
