import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveOlderResults, SECTION_NAMES, normalizeSectionResult, parseOnly, partialReasons, runBenchmarks } from '../../../bench/run.js';

describe('bench runner', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vb-bench-run-'));
    await writeFile(
      join(dir, 'good.mjs'),
      "export async function runProtocolBench() { return { markdown: 'virsh 10 ms, ours 1 ms', json: { oursMs: 1 } }; }\n",
    );
    await writeFile(join(dir, 'throws.mjs'), "export async function runPlanningBench() { throw new Error('planner exploded'); }\n");
    await writeFile(join(dir, 'wrong-export.mjs'), 'export const nothing = 1;\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a missing, a throwing and a misnamed section and still runs the good one', async () => {
    const url = (f: string) => pathToFileURL(join(dir, f)).href;
    const { outcomes, markdownPath } = await runBenchmarks({
      only: ['protocol', 'planning', 'collect', 'techniques'],
      days: 'quick',
      outDir: join(dir, 'out'),
      dated: true,
      log: () => {},
      sectionOverrides: {
        protocol: { title: 'Protocol', module: url('good.mjs'), exportName: 'runProtocolBench', owner: 'good.mjs' },
        planning: { title: 'Planning', module: url('throws.mjs'), exportName: 'runPlanningBench', owner: 'throws.mjs' },
        collect: { title: 'Collect', module: url('wrong-export.mjs'), exportName: 'runCollectBench', owner: 'wrong-export.mjs' },
        techniques: { title: 'Techniques', module: url('absent.mjs'), exportName: 'runTechniquesBench', owner: 'absent.mjs' },
      },
    });
    expect(outcomes.map((o) => [o.name, o.status])).toEqual([
      ['protocol', 'ok'],
      ['planning', 'failed'],
      ['collect', 'missing'],
      ['techniques', 'missing'],
    ]);
    // Four sections of seven on the quick days: a partial run, kept out of latest.* (issue 26).
    expect(markdownPath).toMatch(/out\/partial\/\d{4}-\d{2}-\d{2}T\d{6}Z-protocol-planning-collect-techniques\.md$/);
    await expect(readFile(join(dir, 'out', 'latest.md'), 'utf8')).rejects.toThrow(/ENOENT/);
    const md = await readFile(markdownPath, 'utf8');
    expect(md).toMatch(/- partial: yes \(sections traces, oracle, scale not run; days quick, not all\)/);
    expect(md).toContain('virsh 10 ms, ours 1 ms');
    expect(md).toContain('Failed: planner exploded');
    expect(md).toContain('Not run: wrong-export.mjs exports no runCollectBench()');
    expect(md).toMatch(/Not run: absent.mjs could not be loaded/);
    const json = JSON.parse(await readFile(markdownPath.replace(/\.md$/, '.json'), 'utf8'));
    expect(json.sections[0].json).toEqual({ oursMs: 1 });
  });

  it('a full run writes latest.* and its dated report, and moves older dated reports to history/ with a row', async () => {
    const out = join(dir, 'full');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, '2026-11-30T193851Z-consolidation-days1-5.md'), 'old');
    await writeFile(join(out, 'oracle-2026-12-07T133705Z.svg'), 'old');
    await writeFile(join(out, 'journal-startup.md'), 'not a dated report');
    // Written before this run: an hour ago (a file written during the run stays, see below).
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const f of ['2026-11-30T193851Z-consolidation-days1-5.md', 'oracle-2026-12-07T133705Z.svg']) await utimes(join(out, f), hourAgo, hourAgo);
    const url = pathToFileURL(join(dir, 'good.mjs')).href;
    const good = (title: string) => ({ title, module: url, exportName: 'runProtocolBench', owner: 'good.mjs' });
    const { markdownPath } = await runBenchmarks({
      only: [...SECTION_NAMES],
      days: 'all',
      outDir: out,
      dated: true,
      log: () => {},
      sectionOverrides: Object.fromEntries(SECTION_NAMES.map((n) => [n, good(n)])),
    });
    expect(markdownPath).toBe(join(out, 'latest.md'));
    expect(await readFile(markdownPath, 'utf8')).not.toMatch(/partial/);
    const top = await readdir(out);
    expect(top.filter((f) => /^\d{4}-/.test(f))).toHaveLength(2);
    expect(top).toContain('journal-startup.md');
    expect((await readdir(join(out, 'history'))).sort()).toEqual(['2026-11-30T193851Z-consolidation-days1-5.md', 'README.md', 'oracle-2026-12-07T133705Z.svg']);
    const history = await readFile(join(out, 'history', 'README.md'), 'utf8');
    expect(history.split('\n').filter((l) => l.startsWith('| 20'))).toHaveLength(1);
    expect(history).toMatch(/traces ok \d+, techniques ok \d+, oracle ok \d+/);
  });

  it("the run's own files stay at the top: dated reports written since it started (the oracle's report and figure) are not archived", async () => {
    const out = join(dir, 'own');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'oracle-2026-12-07T133705Z.md'), 'an older run');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(join(out, 'oracle-2026-12-07T133705Z.md'), hourAgo, hourAgo);
    const startedMs = Date.now() - 60_000;
    await writeFile(join(out, 'oracle-2026-12-08T000000Z.svg'), 'this run');
    expect(await archiveOlderResults(out, [], '| row |', startedMs)).toEqual(['oracle-2026-12-07T133705Z.md']);
    expect((await readdir(out)).sort()).toEqual(['history', 'oracle-2026-12-08T000000Z.svg']);
  });

  it('names why a run is partial (a trace, scale or profiling variable from the environment counts)', () => {
    expect(partialReasons({ only: [...SECTION_NAMES], days: 'all' }, {})).toEqual([]);
    expect(partialReasons({ only: [...SECTION_NAMES], days: 'all' }, { VB_TRACE_BALANCERS: 'never' })).toEqual(['VB_TRACE_BALANCERS=never']);
    // The scale section narrowed to fewer sizes or runs, or profiled while it measures, is not a full report either.
    expect(partialReasons({ only: [...SECTION_NAMES], days: 'all' }, { VB_SCALE_HOSTS: '100,10000' })).toEqual(['VB_SCALE_HOSTS=100,10000']);
    expect(partialReasons({ only: [...SECTION_NAMES], days: 'all' }, { VB_SCALE_RUNS: '1', VB_PROFILE_TICKS: '/tmp/p' })).toEqual([
      'VB_SCALE_RUNS=1',
      'VB_PROFILE_TICKS=/tmp/p',
    ]);
    expect(partialReasons({ only: [...SECTION_NAMES], days: 'all' }, { VB_ALLOCATION_PROFILE: '1', VB_HEAP_SNAPSHOT: '/tmp/h' })).toEqual([
      'VB_ALLOCATION_PROFILE=1',
      'VB_HEAP_SNAPSHOT=/tmp/h',
    ]);
    // Where the traces are read from does not narrow a run.
    expect(partialReasons({ only: [...SECTION_NAMES], days: 'all' }, { VB_TRACES_DIR: '/data/planetlab' })).toEqual([]);
    expect(partialReasons({ only: ['traces'], days: ['20110303'], keepPrevious: true }, {})).toEqual([
      'sections techniques, oracle, protocol, planning, collect, scale not run',
      'days 20110303, not all',
      'sections carried over from an earlier run',
    ]);
  });

  it('wraps results without Markdown as JSON, bigints included', () => {
    expect(normalizeSectionResult({ calls: 3n }).markdown).toBe('```json\n{\n  "calls": "3"\n}\n```');
    expect(normalizeSectionResult('plain')).toEqual({ markdown: 'plain', json: 'plain' });
  });

  it('rejects an unknown section name, naming the choices', () => {
    expect(() => parseOnly('traces,speed')).toThrow(/unknown section "speed"; choose from traces, techniques/);
  });
});
