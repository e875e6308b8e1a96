/**
 * Paired per-day comparison of the trace replay (issue 26): every balancer beside its comparator on
 * the same day, never median against median. Two comparisons:
 *
 * - Consolidation (scenario cloudsim-800-as-cloudsim) against CloudSim 3.0.3's LR-MMT-1.2 per day
 *   (bench/inputs/cloudsim-3.0.3-lr-mmt-1.2-per-day.csv): a day is won when energy is at most
 *   LR-MMT's and SLAV (CloudSim accounting) and migrations are below it.
 * - Balancing (every other scenario) against the best threshold script of the day (the baseline
 *   with the lower SLATAH that day): a day is won when SLATAH is below it with no more migrations.
 *
 * Each comparison counts wins over all days and over the days not used to tune the balancer (its
 * held-out days), with totals, so a claim can be read day by day.
 */
import { readFile } from 'node:fs/promises';
import type { ReplayResult } from './replay.js';

/** One day of CloudSim's own run of a policy (CSV row). Units: kWh, count, percent. */
export interface ReferenceDay {
  day: string;
  energyKWh: number;
  migrations: number;
  slavPercent: number;
  slatahPercent: number;
}

/**
 * Reads CloudSim's per-day CSV (header `day,energy_kwh,migrations,slav_percent,pdm_percent,slatah_percent`).
 * Throws naming the file and line when a row is malformed.
 */
export function parseReferenceCsv(text: string, file = 'reference CSV'): ReferenceDay[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = lines.shift()?.split(',') ?? [];
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0)
      throw new Error(`${file}: no column "${name}" in the header (${header.join(',')}); expected day,energy_kwh,migrations,slav_percent,slatah_percent`);
    return i;
  };
  const [d, e, m, s, t] = ['day', 'energy_kwh', 'migrations', 'slav_percent', 'slatah_percent'].map(col);
  return lines.map((line, i) => {
    const f = line.split(',');
    const row = { day: f[d], energyKWh: Number(f[e]), migrations: Number(f[m]), slavPercent: Number(f[s]), slatahPercent: Number(f[t]) };
    if (!/^\d{8}$/.test(row.day) || [row.energyKWh, row.migrations, row.slavPercent, row.slatahPercent].some((v) => !Number.isFinite(v)))
      throw new Error(`${file} line ${i + 2}: "${line}" is not a day (YYYYMMDD) followed by numbers`);
    return row;
  });
}

export async function loadReferenceCsv(path: string): Promise<ReferenceDay[]> {
  return parseReferenceCsv(await readFile(path, 'utf8'), path);
}

/** One day of one balancer beside its comparator. */
export interface PairedDay {
  day: string;
  heldOut: boolean;
  ours: { energyKWh: number; slavPercent: number; slatahPercent: number; migrations: number };
  /** The comparator's figures that day (LR-MMT's, or the best threshold script's). */
  theirs: { name: string; energyKWh: number; slavPercent: number; slatahPercent: number; migrations: number };
  win: boolean;
  /** Per criterion, whether ours met it. */
  met: Record<string, boolean>;
}

/** Wins and totals over a set of days. */
export interface PairedTally {
  days: number;
  wins: number;
  oursEnergyKWh: number;
  theirsEnergyKWh: number;
  oursMigrations: number;
  theirsMigrations: number;
  /** Per criterion, on how many days ours met it. */
  met: Record<string, number>;
}

export interface PairedComparison {
  scenario: string;
  balancer: string;
  kind: 'against-lr-mmt' | 'against-best-threshold';
  tuningDays: string[];
  perDay: PairedDay[];
  all: PairedTally;
  heldOut: PairedTally;
}

function tally(days: readonly PairedDay[]): PairedTally {
  const met: Record<string, number> = {};
  for (const d of days) for (const [k, v] of Object.entries(d.met)) met[k] = (met[k] ?? 0) + (v ? 1 : 0);
  const sum = (f: (d: PairedDay) => number) => days.reduce((a, d) => a + f(d), 0);
  return {
    days: days.length,
    wins: days.filter((d) => d.win).length,
    oursEnergyKWh: sum((d) => d.ours.energyKWh),
    theirsEnergyKWh: sum((d) => d.theirs.energyKWh),
    oursMigrations: sum((d) => d.ours.migrations),
    theirsMigrations: sum((d) => d.theirs.migrations),
    met,
  };
}

const figures = (r: ReplayResult) => ({
  energyKWh: r.energyKWh,
  slavPercent: r.slavCloudsimAccounting * 100,
  slatahPercent: r.slatahCloudsimAccounting * 100,
  migrations: r.migrations,
});

/**
 * Pairs each balancer's days with its comparator. `reference` is CloudSim's LR-MMT per day (the
 * comparator of the `consolidating` balancers in `cloudsimScenario`); `thresholdBaselines` names the threshold scripts (the best of them each
 * day is the comparator in the other scenarios); `tuningDays` maps a balancer name to the days its
 * settings were chosen on (absent: every day counts as held out). A day without a comparator is
 * left out.
 */
export function pairedComparisons(
  results: readonly ReplayResult[],
  options: {
    reference: readonly ReferenceDay[];
    cloudsimScenario: string;
    thresholdBaselines: readonly string[];
    tuningDays: Record<string, readonly string[]>;
    /** Balancers that consolidate: held against LR-MMT in the CloudSim scenario only (elsewhere they have no comparator); the others against the threshold scripts outside it. */
    consolidating: readonly string[];
  },
): PairedComparison[] {
  const out: PairedComparison[] = [];
  const groups = new Map<string, ReplayResult[]>();
  for (const r of results) {
    if (options.thresholdBaselines.includes(r.balancer) || r.balancer === 'never') continue;
    const key = `${r.scenario}\u0000${r.balancer}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, rs] of groups) {
    const [scenario, balancer] = key.split('\u0000');
    const tuningDays = [...(options.tuningDays[balancer] ?? [])];
    const perDay: PairedDay[] = [];
    const kind = options.consolidating.includes(balancer) ? 'against-lr-mmt' : 'against-best-threshold';
    // Consolidation is judged in CloudSim's scenario, balancing outside it (CloudSim's memory model lets no real cluster balance there).
    if ((kind === 'against-lr-mmt') !== (scenario === options.cloudsimScenario)) continue;
    for (const r of [...rs].sort((a, b) => a.day.localeCompare(b.day))) {
      const ours = figures(r);
      const heldOut = !tuningDays.includes(r.day);
      if (kind === 'against-lr-mmt') {
        const ref = options.reference.find((x) => x.day === r.day);
        if (!ref) continue;
        const met = { energy: ours.energyKWh <= ref.energyKWh, slav: ours.slavPercent < ref.slavPercent, migrations: ours.migrations < ref.migrations };
        perDay.push({ day: r.day, heldOut, ours, theirs: { name: 'LR-MMT-1.2', ...ref }, win: met.energy && met.slav && met.migrations, met });
      } else {
        const baselines = results.filter((b) => b.scenario === scenario && b.day === r.day && options.thresholdBaselines.includes(b.balancer));
        if (baselines.length === 0) continue;
        // The best script of the day: the lower SLATAH, then the fewer migrations.
        const best = [...baselines].sort((a, b) => a.sla.slatah - b.sla.slatah || a.migrations - b.migrations)[0];
        const theirs = { name: best.balancer, ...figures(best), slatahPercent: best.sla.slatah * 100 };
        const met = { slatah: r.sla.slatah < best.sla.slatah, migrations: r.migrations <= best.migrations };
        perDay.push({ day: r.day, heldOut, ours: { ...ours, slatahPercent: r.sla.slatah * 100 }, theirs, win: met.slatah && met.migrations, met });
      }
    }
    if (perDay.length === 0) continue;
    out.push({ scenario, balancer, kind, tuningDays, perDay, all: tally(perDay), heldOut: tally(perDay.filter((d) => d.heldOut)) });
  }
  return out;
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
/** Three significant figures (0 as 0): SLATAH % of the balancing days differs in the fifth decimal (0.00211 against 0.00210). */
const sig = (v: number) => (!Number.isFinite(v) ? 'n/a' : v === 0 ? '0' : String(Number(v.toPrecision(3))));
const pct = (a: number, b: number) => (b > 0 ? `${a >= b ? '+' : ''}${(((a - b) / b) * 100).toFixed(1)} %` : 'n/a');

/** The comparisons as Markdown: one per-day table each, then wins and totals on all days and on the held-out days. */
export function pairedMarkdown(comparisons: readonly PairedComparison[]): string {
  const parts: string[] = [];
  for (const c of comparisons) {
    const tuned = c.tuningDays.length
      ? `tuned on ${c.tuningDays.join(', ')}; the other days are held out`
      : 'no tuning days recorded: every day counts as held out';
    const summary = (label: string, t: PairedTally) =>
      t.days === 0
        ? `${label}: none among the days run.`
        : `${label}: wins on ${t.wins} of ${t.days} days (${Object.entries(t.met)
            .map(([k, n]) => `${k} ${n}/${t.days}`)
            .join(
              ', ',
            )}); energy ${fmt(t.oursEnergyKWh, 1)} vs ${fmt(t.theirsEnergyKWh, 1)} kWh (${pct(t.oursEnergyKWh, t.theirsEnergyKWh)}), migrations ${t.oursMigrations.toLocaleString('en-US')} vs ${t.theirsMigrations.toLocaleString('en-US')}.`;
    if (c.kind === 'against-lr-mmt') {
      parts.push(
        `**${c.balancer} against CloudSim 3.0.3 LR-MMT-1.2, day by day** (scenario ${c.scenario}; ours in CloudSim's accounting; a win is energy ≤ and SLAV and migrations < LR-MMT's; ${tuned}):`,
        '',
        '| day | held out | energy kWh (ours / LR-MMT) | SLAV % (ours / LR-MMT) | SLATAH % (ours / LR-MMT) | migrations (ours / LR-MMT) | win |',
        '|---|---|---|---|---|---|---|',
        ...c.perDay.map(
          (d) =>
            `| ${d.day} | ${d.heldOut ? 'yes' : 'no (tuning)'} | ${fmt(d.ours.energyKWh, 2)} / ${fmt(d.theirs.energyKWh, 2)} (${pct(d.ours.energyKWh, d.theirs.energyKWh)}) | ${d.ours.slavPercent.toExponential(2)} / ${d.theirs.slavPercent} | ${fmt(d.ours.slatahPercent, 2)} / ${fmt(d.theirs.slatahPercent, 2)} | ${d.ours.migrations.toLocaleString('en-US')} / ${d.theirs.migrations.toLocaleString('en-US')} | ${
              d.win
                ? 'yes'
                : `no (${Object.keys(d.met)
                    .filter((k) => !d.met[k])
                    .join(', ')})`
            } |`,
        ),
      );
    } else {
      parts.push(
        `**${c.balancer} against the best threshold script of each day** (scenario ${c.scenario}; a win is SLATAH below it with no more migrations; ${tuned}):`,
        '',
        '| day | held out | SLATAH % (ours / best script) | migrations (ours / best script) | best script | win |',
        '|---|---|---|---|---|---|',
        ...c.perDay.map(
          (d) =>
            `| ${d.day} | ${d.heldOut ? 'yes' : 'no (tuning)'} | ${sig(d.ours.slatahPercent)} / ${sig(d.theirs.slatahPercent)} | ${d.ours.migrations} / ${d.theirs.migrations} | ${d.theirs.name} | ${
              d.win
                ? 'yes'
                : `no (${Object.keys(d.met)
                    .filter((k) => !d.met[k])
                    .join(', ')})`
            } |`,
        ),
      );
    }
    parts.push('', summary('All days', c.all), summary('Held-out days', c.heldOut), '');
  }
  return parts.join('\n');
}
