/**
 * The headline figures of a full bench run, one line, for the history table in
 * bench/results/history/README.md (issue 26: older results leave the top of bench/results/, a
 * short table of headline figures stays). Read from each section's JSON as the runner keeps it:
 *  - traces: per paired comparison (bench/traces/paired.ts) the days won of the days compared, and
 *    against LR-MMT the total energy, ours against CloudSim's, kWh;
 *  - oracle (bench/oracle.ts): cells with regret <= 10 %, non-converging picks, guests lost;
 *  - scale (bench/collect-scale.ts): median CPU per tick at the largest size, ms, and RPCs per host.
 * A section that is missing, failed or lacks a field gives no figure (never a made-up one).
 */

/** One section of a run as bench/run.ts writes it into latest.json: its name, status and JSON. */
export interface HeadlineSection {
  name: string;
  status: string;
  json?: unknown;
}

interface Tally {
  days?: number;
  wins?: number;
  oursEnergyKWh?: number;
  theirsEnergyKWh?: number;
}

const kWh = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

/** The run's headline figures joined with "; " (empty when no section gives one). */
export function headlineFigures(sections: readonly HeadlineSection[]): string {
  const parts: string[] = [];
  const ok = (name: string) => sections.find((s) => s.name === name && s.status === 'ok')?.json as Record<string, unknown> | undefined;
  const traces = ok('traces');
  const paired = Array.isArray(traces?.paired) ? (traces.paired as { scenario: string; balancer: string; kind: string; all?: Tally }[]) : [];
  for (const p of paired) {
    const all = p.all;
    if (all?.days === undefined || all.wins === undefined) continue;
    if (p.kind === 'against-lr-mmt')
      parts.push(
        `${p.balancer} vs LR-MMT (${p.scenario}): ${all.wins}/${all.days} days` +
          (all.oursEnergyKWh !== undefined && all.theirsEnergyKWh !== undefined ? `, ${kWh(all.oursEnergyKWh)} vs ${kWh(all.theirsEnergyKWh)} kWh` : ''),
      );
    else parts.push(`${p.balancer} vs best threshold (${p.scenario}): ${all.wins}/${all.days} days`);
  }
  const oracle = ok('oracle');
  const summary = oracle?.summary as { cells?: number; regretWithin10Percent?: number; nonConvergingPicks?: number; lostGuests?: number } | undefined;
  if (summary?.cells !== undefined && summary.regretWithin10Percent !== undefined)
    parts.push(
      `oracle: regret <= 10 % in ${summary.regretWithin10Percent}/${summary.cells} cells, ${summary.nonConvergingPicks ?? '?'} non-converging picks, ${summary.lostGuests ?? '?'} guests lost`,
    );
  const scale = ok('scale');
  const sizes = Array.isArray(scale?.sizes) ? (scale.sizes as { hosts: number; medianCpuMsPerTick: number; runs?: { rpcsPerHostPerTick?: number }[] }[]) : [];
  const top = sizes.reduce<(typeof sizes)[number] | undefined>((a, s) => (a === undefined || s.hosts > a.hosts ? s : a), undefined);
  if (top) {
    const rpcs = top.runs?.at(-1)?.rpcsPerHostPerTick;
    parts.push(
      `scale ${top.hosts.toLocaleString('en-US')} hosts: ${Math.round(top.medianCpuMsPerTick).toLocaleString('en-US')} ms CPU/tick${rpcs !== undefined ? `, ${rpcs.toFixed(2)} RPCs/host/tick` : ''}`,
    );
  }
  return parts.join('; ');
}
