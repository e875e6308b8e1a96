import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeSectionResult, parseOnly, runBenchmarks } from '../../../bench/run.js';

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
    const { outcomes } = await runBenchmarks({
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
    const md = await readFile(join(dir, 'out', 'latest.md'), 'utf8');
    expect(md).toContain('virsh 10 ms, ours 1 ms');
    expect(md).toContain('Failed: planner exploded');
    expect(md).toContain('Not run: wrong-export.mjs exports no runCollectBench()');
    expect(md).toMatch(/Not run: absent.mjs could not be loaded/);
    const json = JSON.parse(await readFile(join(dir, 'out', 'latest.json'), 'utf8'));
    expect(json.sections[0].json).toEqual({ oursMs: 1 });
  });

  it('wraps results without Markdown as JSON, bigints included', () => {
    expect(normalizeSectionResult({ calls: 3n }).markdown).toBe('```json\n{\n  "calls": "3"\n}\n```');
    expect(normalizeSectionResult('plain')).toEqual({ markdown: 'plain', json: 'plain' });
  });

  it('rejects an unknown section name, naming the choices', () => {
    expect(() => parseOnly('traces,speed')).toThrow(/unknown section "speed"; choose from traces, techniques/);
  });
});
