/** Benchmark figures: data read from the bench's JSON (newest result per section), SVG drawn headless, linked from latest.md. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planningAxisTitle, planningPoints, techniquePoints, tracePoints, writeFigures } from '../../../bench/figures.js';

const techniques = {
  inputs: {
    bandwidthMiBps: 40,
    profiles: [
      { name: 'idle', dirtyMiBps: 0 },
      { name: 'hot', dirtyMiBps: 60 },
    ],
  },
  runs: [
    { profile: 'idle', arm: 'virsh-precopy', repeat: 1, technique: 'precopy', converged: true, totalSeconds: 4.4, downtimeMs: 120 },
    {
      profile: 'idle',
      arm: 'virt-balancer',
      repeat: 1,
      technique: 'precopy',
      converged: true,
      totalSeconds: 4.5,
      downtimeMs: 57,
      predicted: { totalSeconds: 4.05, downtimeMs: 10 },
    },
    {
      profile: 'hot',
      arm: 'virt-balancer',
      repeat: 1,
      technique: 'postcopy',
      converged: false,
      totalSeconds: 30,
      downtimeMs: 0,
      predicted: { totalSeconds: 5, downtimeMs: 20 },
    },
  ],
};
const traces = {
  perDay: [
    { scenario: 's1', balancer: 'never', day: 'd1', overloadedHostTimeShare: 0.05, migrations: 0 },
    { scenario: 's1', balancer: 'virt-balancer', day: 'd1', overloadedHostTimeShare: 0.001, migrations: 41 },
  ],
};

describe('figure data', () => {
  it('techniques: predicted and real per run against dirty rate / bandwidth, virsh runs as real only', () => {
    const points = techniquePoints(techniques);
    expect(points.map((p) => [p.technique, p.kind, p.dirtyOverBandwidth, p.totalSeconds, p.downtimeMs])).toEqual([
      ['precopy (virsh)', 'virsh pre-copy (real)', 0, 4.4, 120],
      ['precopy', 'real', 0, 4.5, 57],
      ['precopy', 'predicted', 0, 4.05, 10],
      ['postcopy', 'real, did not converge', 1.5, 30, 0],
      ['postcopy', 'predicted', 1.5, 5, 20],
    ]);
    expect(techniquePoints({ runs: [] })).toEqual([]);
  });

  it('traces: overloaded host-time in percent and migrations per scenario, balancer and day', () => {
    expect(tracePoints(traces)).toEqual([
      { scenario: 's1', balancer: 'never', day: 'd1', overloadedPercent: 5, migrations: 0 },
      { scenario: 's1', balancer: 'virt-balancer', day: 'd1', overloadedPercent: 0.1, migrations: 41 },
    ]);
  });

  it('planning: CPU time preferred over wall time, one series per planner when the table names them', () => {
    expect(
      planningPoints({
        rows: [
          { hosts: 100, medianMs: 20 },
          { hosts: 1000, medianMs: 102 },
        ],
      }),
    ).toEqual({
      field: 'medianMs',
      points: [
        { hosts: 100, ms: 20, series: 'plan()' },
        { hosts: 1000, ms: 102, series: 'plan()' },
      ],
    });
    const reworked = planningPoints({
      rows: [
        { hosts: 100, cpuMs: 15, medianMs: 20, planner: 'linear' },
        { hosts: 100, cpuMs: 30, medianMs: 35, planner: 'batch' },
      ],
    });
    expect(reworked).toEqual({
      field: 'cpuMs',
      points: [
        { hosts: 100, ms: 15, series: 'linear' },
        { hosts: 100, ms: 30, series: 'batch' },
      ],
    });
    expect(planningAxisTitle('cpuMs')).toBe('CPU time per plan, ms');
    expect(planningAxisTitle('medianMs')).toBe('median wall time per plan, ms');
  });
});

describe('writeFigures', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vb-figures-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('draws from latest.json and, for a section it lacks, the newest dated result; links them from latest.md once', async () => {
    const section = (name: string, json: unknown, status = 'ok') => ({ name, title: name, status, seconds: 1, markdown: '', json });
    await writeFile(join(dir, 'latest.json'), JSON.stringify({ meta: { started: 'L' }, sections: [section('techniques', techniques)] }));
    await writeFile(
      join(dir, '2026-01-01T000000Z.json'),
      JSON.stringify({ meta: { started: 'old' }, sections: [section('traces', { perDay: [] }), section('planning', { rows: [{ hosts: 10, medianMs: 1 }] })] }),
    );
    await writeFile(
      join(dir, '2026-02-01T000000Z.json'),
      JSON.stringify({ meta: { started: 'new' }, sections: [section('traces', traces), section('planning', null, 'failed')] }),
    );
    await writeFile(join(dir, 'latest.md'), '# Benchmarks\n\nTables.\n');
    const { figures, notDrawn } = await writeFigures(dir);
    expect(figures.map((f) => [f.file, f.source.file])).toEqual([
      ['techniques.svg', 'latest.json'],
      ['traces.svg', '2026-02-01T000000Z.json'],
      ['planning.svg', '2026-01-01T000000Z.json'],
    ]);
    expect(notDrawn).toEqual([]);
    const svg = await readFile(join(dir, 'figures', 'techniques.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('dirty rate / bandwidth cap');
    expect(svg).toContain('did not converge');
    expect(await readFile(join(dir, 'figures', 'traces.svg'), 'utf8')).toContain('s1: migrations per day');
    await writeFigures(dir);
    const md = await readFile(join(dir, 'latest.md'), 'utf8');
    expect(md.match(/<!-- figures -->/g)).toHaveLength(1);
    expect(md).toContain('![Planning time against cluster size](figures/planning.svg)');
    expect(md).toContain('_From 2026-02-01T000000Z.json (run started new)._');
    expect(md.startsWith('# Benchmarks\n\nTables.\n')).toBe(true);
  }, 120_000);

  it('says what it could not draw', async () => {
    await writeFile(join(dir, 'latest.json'), JSON.stringify({ sections: [{ name: 'planning', status: 'ok', json: { rows: [] } }] }));
    const { figures, notDrawn } = await writeFigures(dir);
    expect(figures).toEqual([]);
    expect(notDrawn).toEqual([
      'Predicted vs real total time and downtime per technique, against dirty rate / bandwidth: no result of the techniques section',
      'PlanetLab replay: host-time overloaded and migrations per day, per balancer and scenario: no result of the traces section',
      'Planning time against cluster size: the planning result in latest.json has no rows to draw',
    ]);
  });
});
