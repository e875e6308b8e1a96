/**
 * Start-up on a big journal (issue 27 R9): time and peak memory (max RSS) of reading the journal
 * as the controller's start-up does, the whole file (`Journal.read`, what start-up did before) and
 * the planning set (`Journal.readForPlanning`, what it does now), each in a fresh process.
 *
 *   npx tsx bench/journal-startup.ts --mb 227 [--runs 3] [--file /var/tmp/big-journal/journal.jsonl]
 *
 * The journal is generated once (a mix like a busy controller's: planned, started, adapted,
 * outcome, recommended and power entries over 2,000 VMs and 40 hosts) and reused. Writes
 * bench/results/partial/journal-startup.md (a bench outside `npm run bench`: partial, never beside latest.*).
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecisionHistory } from '../src/history/decision-history.js';
import { Journal, JOURNAL_MAX_BYTES, type JournalEntry, unfinishedStarts } from '../src/history/journal.js';
import { PowerStates } from '../src/power/states.js';

const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** What start-up builds from the entries (controller.ts init). */
function startUp(entries: readonly JournalEntry[]): number {
  const history = new DecisionHistory(entries);
  const power = new PowerStates(entries);
  const unfinished = unfinishedStarts(entries);
  return history.forState().recentMoves.length + power.standby().length + unfinished.size;
}

async function child(mode: 'full' | 'planning', file: string): Promise<void> {
  const t0 = performance.now();
  const journal = new Journal(dirname(file));
  const entries = mode === 'full' ? await journal.read() : await journal.readForPlanning();
  const kept = startUp(entries);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, entries: entries.length, kept }));
}

async function generate(file: string, bytes: number): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const out = createWriteStream(file);
  let written = 0;
  let t = Date.UTC(2026, 0, 1);
  const hosts = Array.from({ length: 40 }, (_, i) => `host${i}`);
  for (let i = 0; written < bytes; i++) {
    const vm = i % 2000;
    const from = hosts[i % 40];
    const to = hosts[(i * 7 + 3) % 40];
    const base = { vm: `vm-${vm}`, vmUuid: `00000000-0000-4000-8000-${String(vm).padStart(12, '0')}`, from, to, technique: 'precopy' };
    const lines: JournalEntry[] = [
      {
        type: 'planned',
        atMs: t++,
        ...base,
        reason: 'host over its CPU threshold; the move lowers the objective by 0.0123',
        predicted: { totalSeconds: 12.5, downtimeMs: 180, bytes: 4294967296 },
        dryRun: false,
      },
      { type: 'started', atMs: t++, ...base, deadlineSeconds: 600 },
      { type: 'adapted', atMs: t++, vm: base.vm, vmUuid: base.vmUuid, action: 'max-downtime', detail: 'raised to 300 ms after 4 passes' },
      {
        type: 'outcome',
        atMs: t++,
        ...base,
        outcome: i % 11 ? 'completed' : 'failed',
        totalMs: 11_800,
        downtimeMs: 170,
        bytes: 4_400_000_000,
        iterations: 4,
        predicted: { technique: 'precopy', totalSeconds: 12.5, downtimeMs: 180, bytes: 4294967296, iterations: 4, converges: true } as never,
        inputs: { memoryBytes: 4294967296, dirtyRateMiBps: 20, bandwidthMiBps: 1000, bandwidthMeasured: true, downtimeBudgetMs: 300 },
      },
      { type: 'recommended', atMs: t++, id: `r${i}`, ...base, kind: 'balancing', reason: 'balancing', expiresAtMs: t + 3_600_000 },
    ];
    if (i % 500 === 0)
      lines.push({
        type: 'power',
        atMs: t++,
        host: hosts[i % 40],
        action: 'power-off',
        event: 'done',
        method: 'command',
        capacity: { cpuCount: 64, memoryTotalBytes: 2 ** 38 },
      });
    const text = lines.map((l) => `${JSON.stringify(l)}\n`).join('');
    written += Buffer.byteLength(text);
    if (!out.write(text)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
}

async function main(): Promise<void> {
  const mode = arg('child', '');
  if (mode === 'full' || mode === 'planning') return child(mode, arg('file', ''));
  const mb = Number(arg('mb', '227'));
  const runs = Number(arg('runs', '3'));
  const file = arg('file', `/var/tmp/vb-bench-journal-${mb}mb/journal.jsonl`);
  if (!existsSync(file) || Math.abs(statSync(file).size - mb * 1e6) > mb * 1e4) await generate(file, mb * 1e6);
  const sizeMB = statSync(file).size / 1e6;
  // A journal at its size bound: the most a start-up reads once rotation keeps it there.
  const boundFile = `/var/tmp/vb-bench-journal-bound-${JOURNAL_MAX_BYTES}/journal.jsonl`;
  if (!existsSync(boundFile) || statSync(boundFile).size < JOURNAL_MAX_BYTES * 0.99) await generate(boundFile, JOURNAL_MAX_BYTES);
  const modes = { full: file, planning: file, bound: boundFile };
  const results: Record<string, { seconds: number; maxRssMiB: number; entries: number }[]> = { full: [], planning: [], bound: [] };
  for (let r = 0; r < runs; r++)
    for (const [m, f] of Object.entries(modes)) {
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', m === 'full' ? 'full' : 'planning', '--file', f],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        },
      );
      results[m].push(JSON.parse(out));
      console.log(m, out);
    }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const row = (m: string, label: string) =>
    `| ${label} | ${median(results[m].map((x) => x.seconds)).toFixed(2)} (${results[m].map((x) => x.seconds.toFixed(2)).join(', ')}) | ${median(results[m].map((x) => x.maxRssMiB)).toFixed(0)} | ${results[m][0].entries} |`;
  const md = [
    '# Start-up on a big journal (issue 27 R9)',
    '',
    `Journal: ${sizeMB.toFixed(0)} MB generated (${file}); ${runs} runs per mode, each in a fresh process; ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} at the end.`,
    'Time: read the journal and build decision history, power states and unfinished starts (what start-up does). Max RSS of the whole process.',
    '',
    '| mode | seconds, median (runs) | max RSS MiB, median | entries read |',
    '|---|---|---|---|',
    row('full', 'whole file (`Journal.read`, start-up before)'),
    row(
      'planning',
      `planning set of the same ${sizeMB.toFixed(0)} MB file (\`Journal.readForPlanning\`: the first start-up on an old journal, which the first write then rotates)`,
    ),
    row('bound', `planning set of a journal at its bound, ${(JOURNAL_MAX_BYTES / 2 ** 20).toFixed(0)} MiB (every start-up once rotation keeps it there)`),
    '',
  ].join('\n');
  mkdirSync(join(here, 'results', 'partial'), { recursive: true });
  await writeFile(join(here, 'results', 'partial', 'journal-startup.md'), md);
  console.log(md);
}

await main();
