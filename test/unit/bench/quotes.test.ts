import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkQuotes, evaluate, formatLike, mismatch, parseQuotes, partialSources, quotedFiles, rewriteQuotes } from '../../../bench/quotes.js';

const latest = {
  meta: { commit: 'abc1234' },
  sections: [
    {
      name: 'traces',
      json: {
        paired: [
          { scenario: 'cloudsim-800', balancer: 'virt-balancer', all: { wins: 7, days: 10, oursEnergyKWh: 1549.83 } },
          { scenario: 'overcommitted-200', balancer: 'virt-balancer', all: { wins: 6, days: 10, oursEnergyKWh: 435.2 } },
          {
            scenario: 'cloudsim-800-as-cloudsim',
            balancer: 'virt-balancer+consolidate',
            all: { wins: 10, days: 10, oursEnergyKWh: 1549.8, theirsEnergyKWh: 1649.8 },
          },
        ],
        perDay: [
          { day: '20110303', balancer: 'never', sla: { slatah: 0.000325 }, migrations: 0 },
          { day: '20110306', balancer: 'never', sla: { slatah: 0.0004 }, migrations: 4 },
          { day: '20110309', balancer: 'never', sla: { slatah: 0.0005 }, migrations: 9 },
        ],
      },
    },
    { name: 'scale', json: { sizes: [{ hosts: 10000, medianCpuMsPerTick: 10988.4, rpcs: 4 }], slav: 0.000417 } },
  ],
};
const traces = 'sections[name=traces].json';

describe('quote paths and forms', () => {
  it('selects array entries by field, by index and in aggregates', () => {
    expect(evaluate(latest, `${traces}.paired[scenario=overcommitted-200,balancer=virt-balancer].all.wins`)).toBe(6);
    expect(evaluate(latest, `${traces}.paired[1].all.days`)).toBe(10);
    expect(evaluate(latest, `${traces}.paired[scenario="cloudsim-800-as-cloudsim"].all.wins`)).toBe(10);
    expect(evaluate(latest, `median(${traces}.perDay[balancer=never].migrations)`)).toBe(4);
    expect(evaluate(latest, `sum(${traces}.perDay[*].migrations)`)).toBe(13);
    expect(evaluate(latest, `max(${traces}.perDay[*].sla.slatah) * 100`)).toBeCloseTo(0.05, 12);
    expect(evaluate(latest, `count(${traces}.perDay[migrations=0])`)).toBe(1);
    // "0 of 3 converged": count() of a selector matching nothing is 0, where a plain path is an error.
    expect(evaluate(latest, `count(${traces}.perDay[migrations=5])`)).toBe(0);
    expect(evaluate(latest, `change(${traces}.paired[2].all.oursEnergyKWh, ${traces}.paired[2].all.theirsEnergyKWh)`)).toBeCloseTo(-6.0613, 3);
    expect(evaluate(latest, `ratio(${traces}.paired[2].all.theirsEnergyKWh, ${traces}.paired[2].all.oursEnergyKWh)`)).toBeCloseTo(1.0645, 3);
    expect(evaluate(latest, 'le(sections[name=scale].json.sizes[hosts=10000].medianCpuMsPerTick, 10000)')).toBe(false);
    expect(evaluate(latest, 'ge(sections[name=scale].json.sizes[0].rpcs, 4)')).toBe(true);
  });

  it('names the segment that does not resolve, and what was there', () => {
    expect(() => evaluate(latest, `${traces}.paired[scenario=cloudsim-400,balancer=virt-balancer].all.wins`)).toThrow(
      /segment `paired\[scenario=cloudsim-400,balancer=virt-balancer\]` of .*no entry of sections\[name=traces\]\.json\.paired \(3 entries\) has scenario=cloudsim-400.*scenario: cloudsim-800, overcommitted-200, cloudsim-800-as-cloudsim/,
    );
    expect(() => evaluate(latest, `${traces}.paired[0].all.losses`)).toThrow(/segment `losses` .*has no field "losses" \(fields: wins, days, oursEnergyKWh\)/);
    expect(() => evaluate(latest, 'sections[name=oracle].json.summary')).toThrow(/segment `sections\[name=oracle\]`.*name: traces, scale/);
    expect(() => evaluate(latest, `${traces}.perDay[balancer=never].migrations`)).toThrow(/selects 3 entries, not one/);
    expect(() => evaluate(latest, `${traces}.paired[7].all`)).toThrow(/index 7 is past the end of an array of 3/);
    expect(() => evaluate(latest, `mean(${traces}.perDay[*].migrations)`)).toThrow(/unknown form mean\(\)/);
  });
});

describe('the comparison rule', () => {
  it('rounds the value to the quoted decimals; commas, units, signs and exponents allowed', () => {
    expect(mismatch('1,549.8 kWh', 1549.83)).toBeUndefined();
    expect(mismatch('1,550 kWh', 1549.83)).toBeUndefined();
    expect(mismatch('1,549.9 kWh', 1549.83)).toBe('1,549.8 kWh (1549.83)');
    expect(mismatch('-6.1 %', -6.0613)).toBeUndefined();
    expect(mismatch('+6.1 %', -6.0613)).toBe('-6.1 % (-6.0613)');
    expect(mismatch('4.17e-4', 0.000417)).toBeUndefined();
    expect(mismatch('4.2e-4', 0.000417)).toBeUndefined();
    expect(mismatch('4.1e-4', 0.000417)).toBe('4.2e-4 (0.000417)');
    expect(mismatch('158', 158.49)).toBeUndefined();
    expect(mismatch('158', 158.51)).toBe('159 (158.51)');
    expect(mismatch('abc1234', 'abc1234')).toBeUndefined();
    expect(mismatch('met', false)).toBe('not met');
    expect(mismatch('no', false)).toBeUndefined();
    expect(mismatch('about 158', 158)).toMatch(/is not a number/);
    expect(mismatch('158', { wins: 1 })).toMatch(/an object, not a finite number/);
  });

  it('writes a value in the quote style it replaces', () => {
    expect(formatLike(1649.84, '1,549.8 kWh')).toBe('1,649.8 kWh');
    expect(formatLike(10988.4, '947 ms')).toBe('10,988 ms');
    expect(formatLike(10988.4, '9470 ms')).toBe('10988 ms');
    expect(formatLike(2.71, '+2.7 %')).toBe('+2.7 %');
    expect(formatLike(-2.71, '+2.7 %')).toBe('-2.7 %');
    expect(formatLike(0.0000531, '4.17e-4')).toBe('5.31e-5');
    expect(formatLike(true, 'not met')).toBe('met');
    expect(() => formatLike(3, 'about 3')).toThrow(/"about 3" is not a number/);
  });
});

describe('quotes in Markdown', () => {
  const md = [
    '# Figures',
    '',
    `Consolidation wins on <!-- q: ${traces}.paired[scenario=cloudsim-800-as-cloudsim].all.wins -->10<!-- /q --> of <!-- q: ${traces}.paired[scenario=cloudsim-800-as-cloudsim].all.days -->10<!-- /q --> days.`,
    `<!-- q-base: ${traces}.paired[scenario=cloudsim-800,balancer=virt-balancer].all -->`,
    '| wins | energy |',
    '|---|---|',
    '| <!-- q: .wins -->8<!-- /q --> | <!-- q: .oursEnergyKWh -->1,549.8 kWh<!-- /q --> |',
    'Target <!-- q: le(sections[name=scale].json.sizes[0].medianCpuMsPerTick, 10000) -->met<!-- /q -->.',
  ].join('\n');

  it('parses quotes with their line, text and base', () => {
    const quotes = parseQuotes(md, 'docs/x.md');
    expect(quotes.map((q) => [q.line, q.text])).toEqual([
      [3, '10'],
      [3, '10'],
      [7, '8'],
      [7, '1,549.8 kWh'],
      [8, 'met'],
    ]);
    expect(quotes[2].expr).toBe(`${traces}.paired[scenario=cloudsim-800,balancer=virt-balancer].all.wins`);
  });

  it('reports each mismatch with file, line, path and both values', () => {
    const { quotes, problems } = checkQuotes(md, 'docs/x.md', latest);
    expect(quotes).toHaveLength(5);
    expect(problems.map((p) => p.message)).toEqual([
      `docs/x.md:7: quotes 8 for ${traces}.paired[scenario=cloudsim-800,balancer=virt-balancer].all.wins; latest.json has 7 (7) (rerun \`npx tsx bench/quotes.ts --write\` or fix the text)`,
      'docs/x.md:8: quotes met for le(sections[name=scale].json.sizes[0].medianCpuMsPerTick, 10000); latest.json has not met (rerun `npx tsx bench/quotes.ts --write` or fix the text)',
    ]);
  });

  it('rewrites every quoted figure and nothing else, and the result checks clean', () => {
    const { text, changes } = rewriteQuotes(md, 'docs/x.md', latest);
    expect(changes.map((c) => [c.line, c.from, c.to])).toEqual([
      [7, '8', '7'],
      [8, 'met', 'not met'],
    ]);
    expect(text).toContain('| <!-- q: .wins -->7<!-- /q --> | <!-- q: .oursEnergyKWh -->1,549.8 kWh<!-- /q --> |');
    expect(text.replace(/<!--[\s\S]*?-->/g, '')).toBe(
      md
        .replace(/<!--[\s\S]*?-->/g, '')
        .replace('| 8 |', '| 7 |')
        .replace('Target met', 'Target not met'),
    );
    expect(checkQuotes(text, 'docs/x.md', latest).problems).toEqual([]);
  });

  it('writes nothing when a quote does not resolve', () => {
    expect(() => rewriteQuotes(`a <!-- q: ${traces}.paired[scenario=nosuch].all.wins -->1<!-- /q -->`, 'README.md', latest)).toThrow(
      /README\.md:1: .*segment `paired\[scenario=nosuch\]`/,
    );
  });

  it('refuses malformed markers, naming the line', () => {
    expect(() => parseQuotes('one\n<!-- q: meta.commit -->abc\n<!-- /q -->', 'a.md')).toThrow(
      /a\.md:2: quote of meta\.commit has no closing <!-- \/q --> on its line/,
    );
    expect(() => parseQuotes('x <!-- /q -->', 'a.md')).toThrow(/a\.md:1: <!-- \/q --> with no quote opened/);
    expect(() => parseQuotes('<!-- q: .wins -->1<!-- /q -->', 'a.md')).toThrow(/relative path \.wins with no <!-- q-base/);
    expect(checkQuotes('x\n<!-- q: meta.commit -->abc', 'a.md', latest).problems[0].line).toBe(2);
  });

  it('finds citations of dated result files (partial or archived runs)', () => {
    expect(partialSources('see `bench/results/partial/2026-12-07T203205Z-scale.md` and\nbench/results/history/2026-11-30T224529Z.md', 'd.md')).toEqual([
      expect.stringMatching(/^d\.md:1: cites bench\/results\/partial\/2026-12-07T203205Z-scale\.md, a dated result file/),
      expect.stringMatching(/^d\.md:2: cites bench\/results\/history\/2026-11-30T224529Z\.md/),
    ]);
    expect(partialSources('`bench/results/oracle-2026-12-07T163218Z.*`', 'd.md')).toHaveLength(1);
    expect(
      partialSources(
        'bench/results/latest.json, bench/results/history/README.md, bench/results/history/analyses-2026-12.md, bench/results/partial/<time>-<sections>.md, bench/results/oracle-<time>.json',
        'd.md',
      ),
    ).toEqual([]);
  });
});

describe('README.md and docs/*.md against the committed full report', () => {
  const root = join(import.meta.dirname, '..', '..', '..');

  it('every quoted figure matches bench/results/latest.json (else rerun `npx tsx bench/quotes.ts --write`)', async () => {
    const latestJson = JSON.parse(await readFile(join(root, 'bench', 'results', 'latest.json'), 'utf8')) as unknown;
    const problems: string[] = [];
    let quotes = 0;
    for (const file of await quotedFiles(root)) {
      const checked = checkQuotes(await readFile(join(root, file), 'utf8'), file, latestJson, 'bench/results/latest.json');
      quotes += checked.quotes.length;
      problems.push(...checked.problems.map((p) => p.message));
    }
    expect(problems).toEqual([]);
    // docs/benchmarks.md's "Current figures" quotes the report; none at all would mean the markers were lost.
    expect(quotes).toBeGreaterThan(20);
  });

  it('no figure is drawn from a partial or archived run', async () => {
    const found: string[] = [];
    for (const file of await quotedFiles(root)) found.push(...partialSources(await readFile(join(root, file), 'utf8'), file));
    expect(found).toEqual([]);
  });
});
