/**
 * `npm run bench`: runs every benchmark section side by side and writes one Markdown report and
 * one JSON file under bench/results/. A full run (every section, every day, no filter) writes
 * latest.* plus a dated copy and moves older dated reports to bench/results/history/ with one row
 * in its README; any other run is partial and goes to bench/results/partial/ only (issue 26: one
 * report per full run). A section whose module is missing or throws is reported as such; the
 * others still run.
 *
 *   npm run bench -- --only traces,techniques,oracle,protocol,planning,collect,scale --days quick
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { headlineFigures } from './headline.js';

export const SECTION_NAMES = ['traces', 'techniques', 'oracle', 'protocol', 'planning', 'collect', 'scale'] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

export interface SectionSpec {
  title: string;
  /** Module (relative to bench/) and the function it exports. */
  module: string;
  exportName: string;
  owner: string;
}

const SECTIONS: Record<SectionName, SectionSpec> = {
  traces: { title: 'Balance quality on PlanetLab traces', module: './traces/index.js', exportName: 'runTraceBench', owner: 'bench/traces' },
  techniques: {
    title: 'Technique choice: real migrations in the lab',
    module: './techniques.js',
    exportName: 'runTechniquesBench',
    owner: 'bench/techniques.ts',
  },
  oracle: { title: 'Technique choice against an oracle', module: './oracle.js', exportName: 'runOracleBench', owner: 'bench/oracle.ts' },
  protocol: { title: 'Protocol speed: libvirt client vs virsh', module: './protocol.js', exportName: 'runProtocolBench', owner: 'bench/protocol.ts' },
  planning: { title: 'Planning time at scale', module: './planning.js', exportName: 'runPlanningBench', owner: 'bench/planning.ts' },
  collect: { title: 'Collector CPU per tick', module: './collect.js', exportName: 'runCollectBench', owner: 'bench/collect.ts' },
  scale: {
    title: 'Collection and planning at scale (fake daemons from recorded libvirt 11.3 replies)',
    module: './collect-scale.js',
    exportName: 'runCollectScaleBench',
    owner: 'bench/collect-scale.ts',
  },
};

export interface SectionOutcome {
  name: SectionName;
  title: string;
  status: 'ok' | 'failed' | 'missing';
  seconds: number;
  markdown: string;
  json: unknown;
  error?: string;
  /** For a section carried over from an earlier run: when and at which commit it ran. */
  startedAt?: string;
  commit?: string;
}

export interface RunOptions {
  only: SectionName[];
  days: 'all' | 'quick' | string[];
  tracesDir?: string;
  outDir: string;
  dated: boolean;
  log: (line: string) => void;
  /** Carry over the sections not run this time from the previous latest.json (marked with their run). */
  keepPrevious?: boolean;
  /** Replaces the module behind a section (tests). */
  sectionOverrides?: Partial<Record<SectionName, SectionSpec>>;
}

/** Turns whatever a section returned into Markdown + JSON (sections are owned by different people). */
export function normalizeSectionResult(result: unknown): { markdown: string; json: unknown } {
  if (typeof result === 'string') return { markdown: result, json: result };
  if (result && typeof result === 'object') {
    const r = result as { markdown?: unknown; json?: unknown };
    if (typeof r.markdown === 'string') return { markdown: r.markdown, json: r.json ?? result };
    return { markdown: '```json\n' + JSON.stringify(result, jsonReplacer, 2) + '\n```', json: result };
  }
  return { markdown: String(result), json: result ?? null };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Float64Array) return Array.from(value);
  return value;
}

async function runSection(name: SectionName, options: RunOptions): Promise<SectionOutcome> {
  const spec = options.sectionOverrides?.[name] ?? SECTIONS[name];
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec.module)) as Record<string, unknown>;
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    return {
      name,
      title: spec.title,
      status: 'missing',
      seconds: seconds(),
      markdown: `Not run: ${spec.owner} could not be loaded (${message}).`,
      json: null,
      error: message,
    };
  }
  const fn = mod[spec.exportName];
  if (typeof fn !== 'function') {
    const message = `${spec.owner} exports no ${spec.exportName}()`;
    return { name, title: spec.title, status: 'missing', seconds: seconds(), markdown: `Not run: ${message}.`, json: null, error: message };
  }
  try {
    const result = await (fn as (o: unknown) => unknown)({
      log: options.log,
      days: options.days,
      tracesDir: options.tracesDir,
      quick: options.days === 'quick',
    });
    const { markdown, json } = normalizeSectionResult(result);
    // A section may decline to run (no lab, say) and say why in json.notRun.
    const notRun =
      json && typeof json === 'object' && typeof (json as { notRun?: unknown }).notRun === 'string' ? (json as { notRun: string }).notRun : undefined;
    return { name, title: spec.title, status: notRun ? 'missing' : 'ok', seconds: seconds(), markdown, json, error: notRun };
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    options.log(`${name}: failed: ${message.split('\n')[0]}`);
    return { name, title: spec.title, status: 'failed', seconds: seconds(), markdown: `Failed: ${(error as Error).message}`, json: null, error: message };
  }
}

function gitDescribe(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench', 'policies'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return 'unknown';
  }
}

export function renderReport(outcomes: readonly SectionOutcome[], meta: Record<string, string>): string {
  const lines = [
    '# virt-balancer benchmarks',
    '',
    ...Object.entries(meta).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '| section | status | seconds |',
    '|---|---|---|',
    ...outcomes.map((o) => `| ${o.title} | ${o.status}${o.error ? `: ${o.error.split('\n')[0].replace(/\|/g, '/')}` : ''} | ${o.seconds.toFixed(1)} |`),
  ];
  for (const o of outcomes) lines.push('', `## ${o.title}`, '', o.markdown);
  return lines.join('\n') + '\n';
}

/**
 * Environment variables that narrow a section (fewer scenarios, balancers, host counts or runs) or
 * distort its figures (a profiler running in the measured ticks): any of them set makes a run
 * partial. VB_TRACES_DIR and the oracle's lab location are not here: they say where the same inputs
 * are, not which.
 */
export const NARROWING_ENV = [
  'VB_TRACE_SCENARIOS',
  'VB_TRACE_BALANCERS',
  'VB_SCALE_HOSTS',
  'VB_SCALE_RUNS',
  'VB_SCALE_TICKS',
  'VB_PROFILE_TICKS',
  'VB_ALLOCATION_PROFILE',
  'VB_HEAP_SNAPSHOT',
] as const;

/**
 * Whether a run is a full one (issue 26: one report per full run): every section, every trace day,
 * no narrowing variable from the environment (NARROWING_ENV) and nothing carried over. Only a full run writes latest.*
 * and a dated report at the top of the results folder; any other run is partial and goes to
 * `partial/` there. Returns the reasons a run is partial (empty when full).
 */
export function partialReasons(options: Pick<RunOptions, 'only' | 'days' | 'keepPrevious'>, env: NodeJS.ProcessEnv = process.env): string[] {
  const reasons: string[] = [];
  const missing = SECTION_NAMES.filter((n) => !options.only.includes(n));
  if (missing.length > 0) reasons.push(`sections ${missing.join(', ')} not run`);
  if (options.days !== 'all') reasons.push(`days ${Array.isArray(options.days) ? options.days.join(',') : options.days}, not all`);
  for (const name of NARROWING_ENV) if (env[name]) reasons.push(`${name}=${env[name]}`);
  if (options.keepPrevious) reasons.push('sections carried over from an earlier run');
  return reasons;
}

/** File names of dated reports at the top of a results folder (moved to history/ by the next full run). */
const DATED_REPORT = /^\d{4}-\d{2}-\d{2}.*\.(md|json)$|^oracle-.*\.(md|json|svg)$/;

/**
 * After a full run: every older dated result at the top of `outDir` moves to `history/`, and one
 * row (date, commit, machine, section statuses) is added to `history/README.md`, the short history
 * of full runs. The run's own dated files (`keep`) stay, and so do files written since
 * `runStartedMs` (the oracle section's own report and figure of this run).
 */
export async function archiveOlderResults(outDir: string, keep: readonly string[], row: string, runStartedMs?: number): Promise<string[]> {
  const historyDir = join(outDir, 'history');
  await mkdir(historyDir, { recursive: true });
  const moved: string[] = [];
  for (const f of await readdir(outDir)) {
    if (!DATED_REPORT.test(f) || keep.includes(f)) continue;
    // Written by this run (the oracle's own report and figure): the run's, not an older one.
    if (runStartedMs !== undefined && (await stat(join(outDir, f))).mtimeMs >= runStartedMs) continue;
    await rename(join(outDir, f), join(historyDir, f));
    moved.push(f);
  }
  const index = join(historyDir, 'README.md');
  let text: string;
  try {
    text = await readFile(index, 'utf8');
  } catch {
    text = `${HISTORY_HEADER}\n`;
  }
  await writeFile(index, `${text.trimEnd()}\n${row}\n`);
  return moved;
}

export const HISTORY_HEADER = [
  '# Benchmark history',
  '',
  'Older reports of `npm run bench`, moved here by the next full run; one row per full run (the newest full report is `../latest.md`).',
  '',
  '| started | commit | machine | sections (status, seconds) | headline figures |',
  '|---|---|---|---|---|',
].join('\n');

export async function runBenchmarks(options: RunOptions): Promise<{ markdownPath: string; outcomes: SectionOutcome[] }> {
  const startedAt = new Date();
  // The code under test is the code at the start (sections import it as they go).
  const commitAtStart = gitDescribe();
  const outcomes: SectionOutcome[] = [];
  for (const name of options.only) {
    options.log(`== ${name}`);
    outcomes.push(await runSection(name, options));
  }
  const cpu = cpus();
  const meta = {
    started: startedAt.toISOString(),
    commit: commitAtStart,
    machine: `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    sections: options.only.join(', '),
  };
  if (options.keepPrevious) {
    try {
      const previous = JSON.parse(await readFile(join(options.outDir, 'latest.json'), 'utf8')) as { meta: Record<string, string>; sections: SectionOutcome[] };
      for (const old of previous.sections) {
        if (outcomes.some((o) => o.name === old.name) || old.status !== 'ok') continue;
        // A section carried over before keeps its one note about the run it came from.
        const body = old.markdown.replace(/^(_Carried over from the run started [^\n]*_\n\n)+/, '');
        outcomes.push({
          ...old,
          markdown: `_Carried over from the run started ${old.startedAt ?? previous.meta.started} (commit ${old.commit ?? previous.meta.commit})._\n\n${body}`,
          startedAt: old.startedAt ?? previous.meta.started,
          commit: old.commit ?? previous.meta.commit,
        });
      }
      outcomes.sort((a, b) => SECTION_NAMES.indexOf(a.name) - SECTION_NAMES.indexOf(b.name));
      meta.sections = outcomes.map((o) => o.name).join(', ');
    } catch {
      /* no previous report */
    }
  }
  const partial = partialReasons(options);
  if (partial.length > 0) (meta as Record<string, string>).partial = `yes (${partial.join('; ')}): not a full report, written under partial/`;
  const markdown = renderReport(outcomes, meta);
  const json = JSON.stringify({ meta, sections: outcomes }, jsonReplacer, 2);
  const stamp = startedAt.toISOString().replace(/[:]/g, '').replace(/\..*$/, 'Z');
  if (partial.length > 0) {
    // A partial run never replaces latest.*: that is only ever a full report.
    const dir = join(options.outDir, 'partial');
    await mkdir(dir, { recursive: true });
    const markdownPath = join(dir, `${stamp}-${options.only.join('-')}.md`);
    await writeFile(markdownPath, markdown);
    await writeFile(markdownPath.replace(/\.md$/, '.json'), json);
    return { markdownPath, outcomes };
  }
  await mkdir(options.outDir, { recursive: true });
  const markdownPath = join(options.outDir, 'latest.md');
  await writeFile(markdownPath, markdown);
  await writeFile(join(options.outDir, 'latest.json'), json);
  const dated = options.dated ? [`${stamp}.md`, `${stamp}.json`] : [];
  for (const f of dated) await writeFile(join(options.outDir, f), f.endsWith('.md') ? markdown : json);
  const statuses = outcomes.map((o) => `${o.name} ${o.status} ${o.seconds.toFixed(0)}`).join(', ');
  const headline = headlineFigures(outcomes.map((o) => ({ name: o.name, status: o.status, json: o.json })));
  await archiveOlderResults(options.outDir, dated, `| ${meta.started} | ${meta.commit} | ${meta.machine} | ${statuses} | ${headline} |`, startedAt.getTime());
  return { markdownPath, outcomes };
}

export function parseOnly(value: string): SectionName[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!(SECTION_NAMES as readonly string[]).includes(n)) {
      throw new Error(`--only: unknown section "${n}"; choose from ${SECTION_NAMES.join(', ')}`);
    }
  }
  return names as SectionName[];
}

async function main(): Promise<void> {
  const program = new Command()
    .name('bench')
    .description('Run virt-balancer benchmarks and write bench/results/latest.md and .json')
    .option('--only <sections>', `comma-separated sections (${SECTION_NAMES.join(',')})`, SECTION_NAMES.join(','))
    .option('--days <days>', "trace days: 'all', 'quick' (3 days), or comma-separated YYYYMMDD", 'all')
    .option('--traces-dir <dir>', 'PlanetLab trace folder (default from bench/inputs/traces.json or VB_TRACES_DIR)')
    .option('--out <dir>', 'output folder', join(import.meta.dirname, 'results'))
    .option('--no-dated', 'do not write a dated copy of the report')
    .option('--keep-previous', 'carry over sections not run now from the previous latest.json, marked as such');
  program.parse();
  const o = program.opts<{ only: string; days: string; tracesDir?: string; out: string; dated: boolean; keepPrevious?: boolean }>();
  const days = o.days === 'all' || o.days === 'quick' ? o.days : o.days.split(',').map((d) => d.trim());
  const { markdownPath, outcomes } = await runBenchmarks({
    only: parseOnly(o.only),
    days,
    tracesDir: o.tracesDir,
    outDir: o.out,
    dated: o.dated,
    keepPrevious: o.keepPrevious,
    log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
  });
  process.stderr.write(`report: ${markdownPath}\n`);
  for (const s of outcomes) process.stderr.write(`  ${s.name}: ${s.status} (${s.seconds.toFixed(1)} s)\n`);
  // Figures from the results just written (and older ones for sections not run now); a figure
  // that cannot be drawn is reported, never a failed bench.
  // Figures belong to the full report (latest.md); a partial run draws none.
  if (!markdownPath.endsWith('latest.md')) return;
  try {
    const { writeFigures } = await import('./figures.js');
    const { figures, notDrawn } = await writeFigures(o.out);
    process.stderr.write(`figures: ${figures.map((f) => f.file).join(', ') || 'none'}${notDrawn.length ? `; not drawn: ${notDrawn.join('; ')}` : ''}\n`);
  } catch (error) {
    process.stderr.write(`figures: not drawn (${(error as Error).message}); rerun with npm run bench:figures\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
