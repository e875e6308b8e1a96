/**
 * `npx tsx bench/traces/paired-merge.ts REPORT.json...`: the paired per-day comparison (paired.ts)
 * over the trace days of several reports, for days replayed side by side in separate processes
 * (each report carries its own days only). Prints Markdown; the reports must come from the same
 * inputs (bench/inputs/traces.json) and commit, which it checks.
 */
import { readFile } from 'node:fs/promises';
import { pairedForInputs } from './index.js';
import type { TraceBenchInputs } from './inputs.js';
import { pairedMarkdown } from './paired.js';
import type { ReplayResult } from './replay.js';

interface ReportFile {
  meta: Record<string, string>;
  sections: { name: string; status: string; json: { inputs: TraceBenchInputs; perDay: ReplayResult[] } | null }[];
}

/** Reads the traces sections of the reports; throws naming a report that has none or that ran other code or inputs. */
export async function mergeTraceReports(paths: readonly string[]): Promise<{ perDay: ReplayResult[]; inputs: TraceBenchInputs; commit: string }> {
  if (paths.length === 0) throw new Error('give one or more bench report JSON files (bench/results/partial/*.json)');
  const perDay: ReplayResult[] = [];
  let inputs: TraceBenchInputs | undefined;
  let commit: string | undefined;
  for (const path of paths) {
    const report = JSON.parse(await readFile(path, 'utf8')) as ReportFile;
    const traces = report.sections.find((s) => s.name === 'traces' && s.status === 'ok')?.json;
    if (!traces) throw new Error(`${path}: no traces section that ran; merge only reports of \`npm run bench -- --only traces\``);
    if (commit !== undefined && report.meta.commit !== commit)
      throw new Error(`${path}: commit ${report.meta.commit}, the first report's is ${commit}; merge runs of one commit only`);
    if (inputs && JSON.stringify(traces.inputs.engine) !== JSON.stringify(inputs.engine))
      throw new Error(`${path}: engine inputs differ from the first report's; merge runs of the same bench/inputs/traces.json only`);
    commit = report.meta.commit;
    inputs = traces.inputs;
    for (const r of traces.perDay) {
      if (perDay.some((p) => p.day === r.day && p.scenario === r.scenario && p.balancer === r.balancer))
        throw new Error(`${path}: day ${r.day} of ${r.balancer} in ${r.scenario} is already in an earlier report`);
      perDay.push(r);
    }
  }
  return { perDay, inputs: inputs!, commit: commit! };
}

async function main(): Promise<void> {
  const paths = process.argv.slice(2);
  const { perDay, inputs, commit } = await mergeTraceReports(paths);
  const paired = await pairedForInputs(perDay, inputs);
  const days = [...new Set(perDay.map((r) => r.day))].sort();
  process.stdout.write(`Merged from ${paths.length} report(s) of commit ${commit}: ${days.length} day(s), ${days.join(', ')}.\n\n${pairedMarkdown(paired)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    process.stderr.write(`paired-merge: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
