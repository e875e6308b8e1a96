/**
 * `npm run bench:figures`: SVG figures of the benchmark results, drawn with Vega-Lite (compiled to
 * Vega and rendered headless in Node: no browser, no canvas) from the JSON the bench wrote, without
 * rerunning anything. Also run at the end of `npm run bench`.
 *
 * Each figure reads its section from bench/results/latest.json, or, when latest.json lacks that
 * section (a run with --only), from the newest dated result that has it; the figure's caption in
 * latest.md names the file. Figures go to bench/results/figures/ and are linked from latest.md
 * between `<!-- figures -->` markers (replaced on each run).
 */
import { readdir, readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseVega, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One bench result file as bench/run.ts writes it (only what the figures read). */
interface ResultFile {
  meta?: { started?: string; commit?: string };
  sections: { name: string; status: string; json: unknown; startedAt?: string }[];
}

/** Where a section's data came from. */
export interface SectionSource {
  file: string;
  started?: string;
  json: unknown;
}

/**
 * The newest data for each wanted section: latest.json first, then full runs' dated files newest
 * first (names are ISO timestamps, so they sort by time). A file named with a suffix after its
 * timestamp is a partial run (a subset of days or scenarios, e.g. `...Z-consolidation-days1-5`)
 * and is drawn from only when no full run has the section. Sections never run ok are absent.
 */
export async function findSections(resultsDir: string, wanted: readonly string[]): Promise<Map<string, SectionSource>> {
  const names = (await readdir(resultsDir)).filter((f) => f.endsWith('.json') && f !== 'latest.json');
  const full = /^\d{4}-\d{2}-\d{2}T\d{6}Z\.json$/;
  const newestFirst = (list: string[]) => list.sort().reverse();
  const ordered = ['latest.json', ...newestFirst(names.filter((f) => full.test(f))), ...newestFirst(names.filter((f) => !full.test(f)))];
  const found = new Map<string, SectionSource>();
  for (const file of ordered) {
    if (found.size === wanted.length) break;
    let result: ResultFile;
    try {
      result = JSON.parse(await readFile(join(resultsDir, file), 'utf8')) as ResultFile;
    } catch {
      continue;
    }
    for (const s of result.sections ?? []) {
      if (!wanted.includes(s.name) || found.has(s.name) || s.status !== 'ok' || !s.json) continue;
      found.set(s.name, { file, started: s.startedAt ?? result.meta?.started, json: s.json });
    }
  }
  return found;
}

/** A row of the techniques figure: one quantity of one migration, predicted or real. */
export interface TechniquePoint {
  run: string;
  technique: string;
  /** Dirty rate over the bandwidth cap (the x axis). */
  dirtyOverBandwidth: number;
  kind: 'predicted' | 'real' | 'real, did not converge' | 'virsh pre-copy (real)';
  totalSeconds: number;
  downtimeMs: number;
}

interface TechniquesJson {
  inputs?: { bandwidthMiBps?: number; profiles?: { name: string; dirtyMiBps: number }[] };
  runs?: {
    profile: string;
    arm: string;
    repeat: number;
    technique: string;
    converged: boolean;
    totalSeconds: number;
    downtimeMs?: number;
    measuredDirtyRateMiBps?: number;
    predicted?: { totalSeconds: number; downtimeMs: number };
  }[];
}

/**
 * Predicted and real total time and downtime per run, against dirty rate / bandwidth (the
 * profile's configured dirty rate; the measured one when the profile is unknown).
 */
export function techniquePoints(json: unknown): TechniquePoint[] {
  const t = json as TechniquesJson;
  const bandwidth = t.inputs?.bandwidthMiBps;
  if (!bandwidth || !Array.isArray(t.runs)) return [];
  const profileRate = new Map((t.inputs?.profiles ?? []).map((p) => [p.name, p.dirtyMiBps]));
  const points: TechniquePoint[] = [];
  for (const r of t.runs) {
    const rate = profileRate.get(r.profile) ?? r.measuredDirtyRateMiBps;
    if (rate === undefined || typeof r.totalSeconds !== 'number') continue;
    const base = { run: `${r.profile}/${r.arm}/${r.repeat}`, technique: r.technique, dirtyOverBandwidth: rate / bandwidth };
    if (r.arm !== 'virt-balancer') {
      points.push({ ...base, technique: 'precopy (virsh)', kind: 'virsh pre-copy (real)', totalSeconds: r.totalSeconds, downtimeMs: r.downtimeMs ?? 0 });
      continue;
    }
    points.push({ ...base, kind: r.converged ? 'real' : 'real, did not converge', totalSeconds: r.totalSeconds, downtimeMs: r.downtimeMs ?? 0 });
    if (r.predicted) points.push({ ...base, kind: 'predicted', totalSeconds: r.predicted.totalSeconds, downtimeMs: r.predicted.downtimeMs });
  }
  return points;
}

/** A row of the traces figure: one balancer on one day of one scenario. */
export interface TracePoint {
  scenario: string;
  balancer: string;
  day: string;
  overloadedPercent: number;
  migrations: number;
}

export function tracePoints(json: unknown): TracePoint[] {
  const perDay = (json as { perDay?: { scenario: string; balancer: string; day: string; overloadedHostTimeShare?: number; migrations?: number }[] }).perDay;
  if (!Array.isArray(perDay)) return [];
  return perDay
    .filter((d) => typeof d.overloadedHostTimeShare === 'number' && typeof d.migrations === 'number')
    .map((d) => ({ scenario: d.scenario, balancer: d.balancer, day: d.day, overloadedPercent: d.overloadedHostTimeShare! * 100, migrations: d.migrations! }));
}

/** A row of the planning figure. */
export interface PlanningPoint {
  hosts: number;
  ms: number;
  series: string;
}

/** Fields tried, in order, for the planning time (the planning bench's table may change; CPU time first). */
const PLANNING_TIME_FIELDS = ['cpuMs', 'medianCpuMs', 'cpuMsMedian', 'planCpuMs', 'medianMs', 'wallMs', 'ms'];
/** Fields tried, in order, for a series name (several planners or variants in one table). */
const PLANNING_SERIES_FIELDS = ['planner', 'variant', 'mode', 'pipeline', 'policy', 'scenario'];

/**
 * Planning time against cluster size from the planning section's rows: the x axis is `hosts`,
 * the y axis the first time field present (CPU time when the table has it), one series per value
 * of the first series field present. Returns the field used, for the axis title.
 */
export function planningPoints(json: unknown): { field?: string; points: PlanningPoint[] } {
  const rows = (json as { rows?: Record<string, unknown>[] }).rows;
  if (!Array.isArray(rows) || rows.length === 0) return { points: [] };
  const field = PLANNING_TIME_FIELDS.find((f) => rows.some((r) => typeof r[f] === 'number'));
  if (!field) return { points: [] };
  const seriesField = PLANNING_SERIES_FIELDS.find((f) => rows.some((r) => typeof r[f] === 'string'));
  const points = rows
    .filter((r) => typeof r.hosts === 'number' && typeof r[field] === 'number')
    .map((r) => ({ hosts: r.hosts as number, ms: r[field] as number, series: seriesField ? String(r[seriesField]) : 'plan()' }));
  return { field, points };
}

const FONT = { config: { font: 'sans-serif', view: { stroke: '#ddd' }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelLimit: 260 } } } as const;

export function techniquesSpec(points: TechniquePoint[]): TopLevelSpec {
  const chart = (y: 'totalSeconds' | 'downtimeMs', title: string) => ({
    width: 360,
    height: 260,
    title,
    layer: [
      {
        // Predicted to real, per virt-balancer run.
        transform: [{ filter: "datum.kind !== 'virsh pre-copy (real)'" }],
        mark: { type: 'line' as const, opacity: 0.35, strokeDash: [3, 2] },
        encoding: {
          x: { field: 'dirtyOverBandwidth', type: 'quantitative' as const },
          y: { field: y, type: 'quantitative' as const },
          detail: { field: 'run' },
          color: { field: 'technique', type: 'nominal' as const },
        },
      },
      {
        mark: { type: 'point' as const, size: 70, filled: true },
        encoding: {
          x: { field: 'dirtyOverBandwidth', type: 'quantitative' as const, title: 'dirty rate / bandwidth cap' },
          y: { field: y, type: 'quantitative' as const, title, scale: { type: 'symlog' as const } },
          color: { field: 'technique', type: 'nominal' as const, title: 'technique' },
          shape: {
            field: 'kind',
            type: 'nominal' as const,
            title: '',
            scale: { domain: ['predicted', 'real', 'real, did not converge', 'virsh pre-copy (real)'], range: ['circle', 'square', 'cross', 'triangle-up'] },
          },
        },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...FONT,
    data: { values: points },
    hconcat: [chart('totalSeconds', 'total time, s'), chart('downtimeMs', 'downtime, ms')],
  } as TopLevelSpec;
}

export function tracesSpec(points: TracePoint[]): TopLevelSpec {
  const scenarios = [...new Set(points.map((p) => p.scenario))];
  const panel = (scenario: string, y: 'overloadedPercent' | 'migrations', title: string) => ({
    width: 300,
    height: 200,
    title: `${scenario}: ${title}`,
    transform: [{ filter: { field: 'scenario', equal: scenario } }],
    layer: [
      {
        mark: { type: 'bar' as const, opacity: 0.6 },
        encoding: {
          x: { field: 'balancer', type: 'nominal' as const, title: null, axis: { labelAngle: -30 } },
          y: {
            aggregate: 'median' as const,
            field: y,
            type: 'quantitative' as const,
            title: `${title} (bar: median, ticks: days)`,
            ...(y === 'overloadedPercent' ? { scale: { type: 'symlog' as const, constant: 0.01 } } : {}),
          },
          color: { field: 'balancer', type: 'nominal' as const, legend: null },
        },
      },
      {
        mark: { type: 'tick' as const, color: '#333', thickness: 1 },
        encoding: { x: { field: 'balancer', type: 'nominal' as const }, y: { field: y, type: 'quantitative' as const } },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...FONT,
    data: { values: points },
    vconcat: scenarios.map((s) => ({ hconcat: [panel(s, 'overloadedPercent', 'host-time overloaded, %'), panel(s, 'migrations', 'migrations per day')] })),
  } as TopLevelSpec;
}

/** The y axis says what was measured: CPU time when the table has it, else wall time. */
export function planningAxisTitle(field: string): string {
  const what = /cpu/i.test(field) ? 'CPU time per plan, ms' : 'wall time per plan, ms';
  return /median/i.test(field) ? `median ${what}` : what;
}

export function planningSpec(points: PlanningPoint[], field: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...FONT,
    width: 420,
    height: 280,
    title: 'planning time per tick against cluster size',
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'hosts', type: 'quantitative', scale: { type: 'log' }, title: 'hosts (log)' },
      y: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: `${planningAxisTitle(field)} (log)` },
      color: { field: 'series', type: 'nominal', title: '' },
    },
  } as TopLevelSpec;
}

/** A Vega-Lite spec rendered to SVG text, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parseVega(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface Figure {
  file: string;
  title: string;
  source: SectionSource;
}

/**
 * Draw every figure the results allow into `<resultsDir>/figures/` and link them from latest.md.
 * @returns the figures written, and for each one not drawn why.
 */
export async function writeFigures(resultsDir: string): Promise<{ figures: Figure[]; notDrawn: string[] }> {
  const sources = await findSections(resultsDir, ['techniques', 'traces', 'planning']);
  const outDir = join(resultsDir, 'figures');
  await mkdir(outDir, { recursive: true });
  const figures: Figure[] = [];
  const notDrawn: string[] = [];
  const draw = async (section: string, file: string, title: string, make: (json: unknown) => TopLevelSpec | undefined) => {
    const source = sources.get(section);
    if (!source) return void notDrawn.push(`${title}: no result of the ${section} section`);
    const spec = make(source.json);
    if (!spec) return void notDrawn.push(`${title}: the ${section} result in ${source.file} has no rows to draw`);
    await writeFile(join(outDir, file), await renderSvg(spec));
    figures.push({ file, title, source });
  };
  await draw('techniques', 'techniques.svg', 'Predicted vs real total time and downtime per technique, against dirty rate / bandwidth', (json) => {
    const points = techniquePoints(json);
    return points.length ? techniquesSpec(points) : undefined;
  });
  await draw('traces', 'traces.svg', 'PlanetLab replay: host-time overloaded and migrations per day, per balancer and scenario', (json) => {
    const points = tracePoints(json);
    return points.length ? tracesSpec(points) : undefined;
  });
  await draw('planning', 'planning.svg', 'Planning time against cluster size', (json) => {
    const { field, points } = planningPoints(json);
    return field && points.length ? planningSpec(points, field) : undefined;
  });
  await linkFromReport(join(resultsDir, 'latest.md'), figures, notDrawn);
  return { figures, notDrawn };
}

const START = '<!-- figures -->';
const END = '<!-- /figures -->';

/** The figures block of latest.md: each figure with the result file it was drawn from. */
export function figuresMarkdown(figures: readonly Figure[], notDrawn: readonly string[]): string {
  const lines = [START, '## Figures', '', '_Drawn by `npm run bench:figures` (Vega-Lite, rendered to SVG in Node) from the JSON results._', ''];
  for (const f of figures)
    lines.push(
      `### ${f.title}`,
      '',
      `![${f.title}](figures/${f.file})`,
      '',
      `_From ${f.source.file}${f.source.started ? ` (run started ${f.source.started})` : ''}._`,
      '',
    );
  for (const n of notDrawn) lines.push(`- Not drawn: ${n}.`);
  if (notDrawn.length) lines.push('');
  lines.push(END);
  return lines.join('\n');
}

async function linkFromReport(markdownPath: string, figures: readonly Figure[], notDrawn: readonly string[]): Promise<void> {
  let text: string;
  try {
    text = await readFile(markdownPath, 'utf8');
  } catch {
    return;
  }
  const block = figuresMarkdown(figures, notDrawn);
  const at = text.indexOf(START);
  const end = text.indexOf(END);
  const next = at >= 0 && end > at ? `${text.slice(0, at)}${block}${text.slice(end + END.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(markdownPath, next);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? join(import.meta.dirname, 'results');
  const { figures, notDrawn } = await writeFigures(dir);
  for (const f of figures) process.stderr.write(`wrote ${join(dir, 'figures', f.file)} (from ${f.source.file})\n`);
  for (const n of notDrawn) process.stderr.write(`not drawn: ${n}\n`);
}
