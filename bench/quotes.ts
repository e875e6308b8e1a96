/**
 * Quoted benchmark figures (issue 26: README and docs quote only figures from the committed full
 * report). A figure in Markdown is wrapped in two HTML comments, invisible when rendered:
 *
 *     <!-- q: sections[name=traces].json.paired[scenario=cloudsim-800,balancer=virt-balancer].all.wins -->7<!-- /q -->
 *
 * The comment names a value in `bench/results/latest.json` (the JSON a full `npm run bench` writes,
 * bench/run.ts); the text between the comments is the figure as the reader sees it.
 *
 * **Paths.** Segments separated by dots: a field name, then any number of selectors in brackets:
 * `[3]` (an array index), `[key=value,key2=value2]` (the entries whose fields equal those values, as
 * text; a value may be written in double quotes), `[*]` (every entry). Outside an aggregate a path
 * must end at exactly one value. `<!-- q-base: PATH -->` sets a base for the quotes after it in the
 * same file; a quote path starting with `.` continues that base.
 *
 * **Derived forms** (kept few): `median(P)`, `min(P)`, `max(P)`, `sum(P)` over the numbers a path
 * selects, `count(P)` the entries it selects; `ratio(A, B)` = A / B; `change(A, B)` = (A − B) / B ×
 * 100 (percent change); `le(A, B)`, `lt`, `ge`, `gt` compare (B may be a number) and give a
 * boolean. Any form may end with `* N` or `/ N` (N a number), e.g. `sla.slatah * 100` for a percent.
 *
 * **Comparison rule.** Numbers: the quoted text is an optional sign, digits with optional thousands
 * commas, an optional decimal part and an optional exponent (`4.17e-4`), then any text without
 * digits (units: `%`, ` ms`, ` kWh`, `x`). It matches when the JSON value rounded to the quoted
 * number of decimals equals the quoted number (JavaScript's `toFixed`, or `toExponential` for the
 * exponent form, on the value): `158.3` quotes anything from 158.25 to 158.35, `158` anything
 * from 157.5 to 158.5. Strings match exactly. Booleans are quoted as `yes`/`no`, `met`/`not met` or
 * `true`/`false`.
 *
 * Markers are found anywhere in a file, code spans and blocks included, so a doc that shows the
 * syntax must break it (e.g. `<!-- q : ... -->`).
 *
 * `npx tsx bench/quotes.ts --check` checks every quote in README.md and docs/*.md against
 * latest.json; `--write` rewrites every quoted figure from it, keeping each quote's decimals, sign
 * style, commas and units (and writes nothing when any quote fails to resolve); `--latest FILE`
 * reads another JSON of the same layout.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** One quoted figure: where it is and what it names. `start`/`end` are the text's offsets in the file. */
export interface Quote {
  file: string;
  /** 1-based line of the quote. */
  line: number;
  /** The expression in the comment, with the file's base applied to a relative path. */
  expr: string;
  /** The figure as written between the comments. */
  text: string;
  start: number;
  end: number;
}

/** A quote that does not match, does not resolve, or a malformed marker: `message` names the file and line. */
export interface QuoteProblem {
  file: string;
  line: number;
  message: string;
}

/** A relative path in an expression: a `.name` at the start, or after `(` or `,`. */
const RELATIVE = /(^|[(,]\s*)\.(?=[A-Za-z_$])/;

const QUOTE_RE = /<!--\s*q(-base)?:\s*([\s\S]*?)\s*-->/g;

function lineOf(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/**
 * Finds the quotes in a Markdown text (`file` is only used in messages). Throws naming the file and
 * line for an opening marker without its `<!-- /q -->` on the same line, a stray closing marker, or
 * a relative path (`.x`) with no `q-base` before it.
 */
export function parseQuotes(markdown: string, file: string): Quote[] {
  const quotes: Quote[] = [];
  let base: string | undefined;
  const consumedCloses = new Set<number>();
  for (const m of markdown.matchAll(QUOTE_RE)) {
    const at = m.index ?? 0;
    const expr = m[2].trim();
    if (m[1]) {
      base = expr;
      continue;
    }
    const textStart = at + m[0].length;
    const lineEnd = markdown.indexOf('\n', textStart);
    const rest = markdown.slice(textStart, lineEnd < 0 ? undefined : lineEnd);
    const close = /<!--\s*\/q\s*-->/.exec(rest);
    const open = /<!--\s*q(-base)?:/.exec(rest);
    if (!close || (open && open.index < close.index))
      throw new Error(`${file}:${lineOf(markdown, at)}: quote of ${expr} has no closing <!-- /q --> on its line`);
    consumedCloses.add(textStart + close.index);
    let full = expr;
    if (RELATIVE.test(expr)) {
      if (!base) throw new Error(`${file}:${lineOf(markdown, at)}: relative path ${expr} with no <!-- q-base: PATH --> before it`);
      full = withBase(expr, base);
    }
    quotes.push({ file, line: lineOf(markdown, at), expr: full, text: rest.slice(0, close.index), start: textStart, end: textStart + close.index });
  }
  for (const m of markdown.matchAll(/<!--\s*\/q\s*-->/g))
    if (!consumedCloses.has(m.index ?? 0)) throw new Error(`${file}:${lineOf(markdown, m.index ?? 0)}: <!-- /q --> with no quote opened before it`);
  return quotes;
}

/** Applies a base to every relative path of an expression. */
function withBase(expr: string, base: string): string {
  return expr.replace(new RegExp(RELATIVE.source, 'g'), (_m, before: string) => `${before}${base}.`);
}

// ---------------------------------------------------------------- paths

interface Selector {
  index?: number;
  all?: boolean;
  conds?: [string, string][];
  raw: string;
}
interface Segment {
  name: string;
  selectors: Selector[];
  raw: string;
}

/** Splits a path into segments; throws naming the path when it is malformed. */
export function parsePath(path: string): Segment[] {
  const segments: Segment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`path ${path}: ${why} at character ${i + 1}`);
  };
  while (i < path.length) {
    const start = i;
    let name = '';
    while (i < path.length && path[i] !== '.' && path[i] !== '[') name += path[i++];
    const selectors: Selector[] = [];
    while (path[i] === '[') {
      const selStart = i;
      i++;
      const conds: [string, string][] = [];
      let body = '';
      // Read to the matching ']', honouring double quotes.
      let inQuote = false;
      while (i < path.length && (inQuote || path[i] !== ']')) {
        if (path[i] === '"') inQuote = !inQuote;
        body += path[i++];
      }
      if (path[i] !== ']') fail('no closing ]');
      i++;
      const raw = path.slice(selStart, i);
      const trimmed = body.trim();
      if (trimmed === '*') selectors.push({ all: true, raw });
      else if (/^\d+$/.test(trimmed)) selectors.push({ index: Number(trimmed), raw });
      else {
        for (const part of splitOutsideQuotes(body, ',')) {
          const eq = part.indexOf('=');
          if (eq <= 0) fail(`selector ${raw} wants key=value, [index] or [*]`);
          let value = part.slice(eq + 1).trim();
          if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
          conds.push([part.slice(0, eq).trim(), value]);
        }
        selectors.push({ conds, raw });
      }
    }
    if (name === '' && selectors.length === 0) fail('empty segment');
    segments.push({ name, selectors, raw: path.slice(start, i) });
    if (i < path.length) {
      if (path[i] !== '.') fail(`unexpected "${path[i]}"`);
      i++;
      if (i === path.length) fail('path ends with "."');
    }
  }
  if (segments.length === 0) throw new Error('empty path');
  return segments;
}

function splitOutsideQuotes(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  for (const ch of text) {
    if (ch === '"') inQuote = !inQuote;
    if (ch === sep && !inQuote) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const describe = (v: unknown) =>
  Array.isArray(v) ? `an array of ${v.length}` : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;

/**
 * The values a path selects in `root` (several when a selector matches several entries). Throws
 * naming the segment that failed and what was there instead (the fields of an object, the values of
 * the selector's keys among an array's entries); with `allowEmpty` (count()) a selector matching no
 * entry selects nothing instead.
 */
export function selectPath(root: unknown, path: string, options: { allowEmpty?: boolean } = {}): unknown[] {
  let current: unknown[] = [root];
  let done = '';
  for (const seg of parsePath(path)) {
    const here = done === '' ? 'the JSON root' : done;
    if (seg.name !== '') {
      current = current.map((v) => {
        if (v === null || typeof v !== 'object' || Array.isArray(v) || !(seg.name in (v as object))) {
          const fields = v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v).slice(0, 12).join(', ') : undefined;
          throw new Error(
            `segment \`${seg.raw}\` of ${path}: ${here} has no field "${seg.name}" (${fields !== undefined ? `fields: ${fields}` : `it is ${describe(v)}`})`,
          );
        }
        return (v as Record<string, unknown>)[seg.name];
      });
    }
    for (const sel of seg.selectors) {
      const next: unknown[] = [];
      for (const v of current) {
        if (!Array.isArray(v))
          throw new Error(
            `segment \`${seg.raw}\` of ${path}: ${here}${seg.name ? `.${seg.name}` : ''} is ${describe(v)}, not an array, so ${sel.raw} selects nothing`,
          );
        if (sel.all) next.push(...v);
        else if (sel.index !== undefined) {
          if (sel.index >= v.length) throw new Error(`segment \`${seg.raw}\` of ${path}: index ${sel.index} is past the end of an array of ${v.length}`);
          next.push(v[sel.index]);
        } else {
          const conds = sel.conds ?? [];
          const hits = v.filter((e) => e && typeof e === 'object' && conds.every(([k, want]) => k in e && String((e as Record<string, unknown>)[k]) === want));
          if (hits.length === 0 && !options.allowEmpty) {
            const seen = conds.map(([k]) => {
              const values = [...new Set(v.map((e) => (e && typeof e === 'object' ? String((e as Record<string, unknown>)[k]) : '?')))];
              return `${k}: ${values.slice(0, 8).join(', ')}${values.length > 8 ? ', ...' : ''}`;
            });
            throw new Error(
              `segment \`${seg.raw}\` of ${path}: no entry of ${here}${seg.name ? `.${seg.name}` : ''} (${v.length} entries) has ${conds.map(([k, x]) => `${k}=${x}`).join(', ')} (values there: ${seen.join('; ')})`,
            );
          }
          next.push(...hits);
        }
      }
      current = next;
    }
    done = done === '' ? seg.raw : `${done}.${seg.raw}`;
  }
  return current;
}

/** The single value a path names; throws when it selects none or several. */
export function resolvePath(root: unknown, path: string): unknown {
  const values = selectPath(root, path);
  if (values.length !== 1)
    throw new Error(`${path} selects ${values.length} entries, not one: add a key to a selector, or wrap it in median(), sum(), count() ...`);
  return values[0];
}

// ---------------------------------------------------------------- expressions

const AGGREGATES = ['median', 'min', 'max', 'sum', 'count'] as const;
const BINARY = ['ratio', 'change', 'le', 'lt', 'ge', 'gt'] as const;

function numbersOf(values: unknown[], path: string): number[] {
  return values.map((v) => {
    if (typeof v !== 'number') throw new Error(`${path} selects ${describe(v)} where a number is needed`);
    return v;
  });
}

function operand(root: unknown, text: string): number {
  const t = text.trim();
  if (/^[+-]?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(t)) return Number(t);
  const v = evaluate(root, t);
  if (typeof v !== 'number') throw new Error(`${t} is ${describe(v)}, not a number`);
  return v;
}

/**
 * The value an expression (a path or a derived form, see the module comment) names in `root`.
 * Throws naming the path segment that does not resolve, or the form that cannot apply.
 */
export function evaluate(root: unknown, expr: string): unknown {
  let e = expr.trim();
  let scale: ((v: number) => number) | undefined;
  const scaled = /^(.*\S)\s*([*/])\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/i.exec(e);
  if (scaled && !/\[[^\]]*$/.test(scaled[1])) {
    const factor = Number(scaled[3]);
    scale = scaled[2] === '*' ? (v) => v * factor : (v) => v / factor;
    e = scaled[1].trim();
  }
  const call = /^([a-z]+)\(([\s\S]*)\)$/.exec(e);
  let value: unknown;
  if (call && (AGGREGATES as readonly string[]).includes(call[1])) {
    const path = call[2].trim();
    const values = selectPath(root, path, { allowEmpty: call[1] === 'count' });
    if (call[1] === 'count') value = values.length;
    else {
      const xs = numbersOf(values, path);
      if (xs.length === 0) throw new Error(`${call[1]}(${path}) selects no numbers`);
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = Math.floor(sorted.length / 2);
      value =
        call[1] === 'sum'
          ? xs.reduce((a, b) => a + b, 0)
          : call[1] === 'min'
            ? sorted[0]
            : call[1] === 'max'
              ? sorted[sorted.length - 1]
              : sorted.length % 2
                ? sorted[mid]
                : (sorted[mid - 1] + sorted[mid]) / 2;
    }
  } else if (call && (BINARY as readonly string[]).includes(call[1])) {
    const args = splitArgs(call[2]);
    if (args.length !== 2) throw new Error(`${call[1]}() takes two arguments, got ${args.length} in ${expr}`);
    const [a, b] = args.map((x) => operand(root, x));
    if ((call[1] === 'ratio' || call[1] === 'change') && b === 0) throw new Error(`${call[1]}(${args.join(', ')}): the second value is 0`);
    value =
      call[1] === 'ratio'
        ? a / b
        : call[1] === 'change'
          ? ((a - b) / b) * 100
          : call[1] === 'le'
            ? a <= b
            : call[1] === 'lt'
              ? a < b
              : call[1] === 'ge'
                ? a >= b
                : a > b;
  } else if (call) {
    throw new Error(`unknown form ${call[1]}() in ${expr}; use ${[...AGGREGATES, ...BINARY].join(', ')}`);
  } else value = resolvePath(root, e);
  if (scale) {
    if (typeof value !== 'number') throw new Error(`${e} is ${describe(value)}; only a number can be scaled`);
    value = scale(value);
  }
  return value;
}

/** Splits `a, b` at top-level commas (not inside brackets or parentheses). */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

// ---------------------------------------------------------------- figures

const NUMBER_RE = /^([+\-\u2212]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:e([+-]?\d+))?(\D*)$/;
const BOOLEAN_WORDS: [string, string][] = [
  ['yes', 'no'],
  ['met', 'not met'],
  ['true', 'false'],
];

interface ParsedFigure {
  sign: string;
  commas: boolean;
  intDigits: number;
  decimals: number;
  exponent: boolean;
  suffix: string;
  value: number;
}

/** Reads a quoted figure's number (see the comparison rule); undefined when the text is not one. */
export function parseFigure(text: string): ParsedFigure | undefined {
  const m = NUMBER_RE.exec(text.trim());
  if (!m) return undefined;
  const [, sign, int, frac = '', exp, suffix] = m;
  const value = Number(`${sign === '' || sign === '+' ? '' : '-'}${int.replace(/,/g, '')}${frac ? `.${frac}` : ''}${exp !== undefined ? `e${exp}` : ''}`);
  return { sign, commas: int.includes(','), intDigits: int.replace(/,/g, '').length, decimals: frac.length, exponent: exp !== undefined, suffix, value };
}

function rounded(value: number, fig: Pick<ParsedFigure, 'decimals' | 'exponent'>): number {
  return Number(fig.exponent ? value.toExponential(fig.decimals) : value.toFixed(fig.decimals));
}

/**
 * The text a value is written as in place of `previous` (a quote's current text): the same
 * decimals, exponent form, sign style and unit suffix; thousands commas when the previous text had
 * them, or had at most 3 integer digits and the new figure has 4 or more (the docs' style: 1,549.8).
 * Throws when the previous text is neither a number nor a boolean word, or the value's kind differs.
 */
export function formatLike(value: unknown, previous: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') {
    const pair = BOOLEAN_WORDS.find((p) => p.includes(previous.trim()));
    if (!pair) throw new Error(`"${previous}" is not one of ${BOOLEAN_WORDS.map((p) => p.join('/')).join(', ')}, for a boolean`);
    return value ? pair[0] : pair[1];
  }
  const fig = parseFigure(previous);
  if (!fig) throw new Error(`"${previous}" is not a number (digits, optional thousands commas and decimals, then units)`);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`the value is ${describe(value)}, not a finite number`);
  if (fig.exponent) {
    const s = value.toExponential(fig.decimals).replace('e+', 'e');
    return `${value >= 0 && fig.sign === '+' ? '+' : ''}${s}${fig.suffix}`;
  }
  const fixed = Math.abs(value).toFixed(fig.decimals);
  const [int, frac] = fixed.split('.');
  const commas = fig.commas || (fig.intDigits <= 3 && int.length >= 4);
  const intText = commas ? int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : int;
  const negative = value < 0 && Number(fixed) !== 0;
  const sign = negative ? (fig.sign === '\u2212' ? '\u2212' : '-') : fig.sign === '+' ? '+' : '';
  return `${sign}${intText}${frac !== undefined ? `.${frac}` : ''}${fig.suffix}`;
}

/**
 * Whether a quote's text agrees with a value (the module's comparison rule). Returns undefined when
 * it does, else why not (the value as the quote would show it).
 */
export function mismatch(text: string, value: unknown): string | undefined {
  if (typeof value === 'string') return text === value ? undefined : JSON.stringify(value);
  if (typeof value === 'boolean') {
    const pair = BOOLEAN_WORDS.find((p) => p.includes(text.trim()));
    if (!pair) return `${value} (quote a boolean as ${BOOLEAN_WORDS.map((p) => p.join('/')).join(', ')})`;
    return text.trim() === (value ? pair[0] : pair[1]) ? undefined : value ? pair[0] : pair[1];
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${describe(value)}, not a finite number`;
  const fig = parseFigure(text);
  if (!fig) return `${value} ("${text}" is not a number: digits, optional thousands commas and decimals, then units)`;
  if (rounded(value, fig) === fig.value) return undefined;
  return `${formatLike(value, text).trim()} (${value})`;
}

/**
 * Checks every quote of a Markdown text against a latest.json object. Each problem names the file,
 * the line, the path and both values, and says how to fix it; a path that does not resolve names
 * its failing segment; a malformed marker is one problem for the whole file.
 */
export function checkQuotes(markdown: string, file: string, latest: unknown, latestName = 'latest.json'): { quotes: Quote[]; problems: QuoteProblem[] } {
  let quotes: Quote[];
  try {
    quotes = parseQuotes(markdown, file);
  } catch (error) {
    return { quotes: [], problems: [{ file, line: Number(/:(\d+):/.exec((error as Error).message)?.[1] ?? 0), message: (error as Error).message }] };
  }
  const problems: QuoteProblem[] = [];
  for (const q of quotes) {
    let value: unknown;
    try {
      value = evaluate(latest, q.expr);
    } catch (error) {
      problems.push({
        file,
        line: q.line,
        message: `${file}:${q.line}: quotes ${q.text} for ${q.expr}, which ${latestName} does not resolve: ${(error as Error).message}`,
      });
      continue;
    }
    const why = mismatch(q.text, value);
    if (why !== undefined)
      problems.push({
        file,
        line: q.line,
        message: `${file}:${q.line}: quotes ${q.text} for ${q.expr}; ${latestName} has ${why} (rerun \`npx tsx bench/quotes.ts --write\` or fix the text)`,
      });
  }
  return { quotes, problems };
}

/**
 * The Markdown with every quoted figure rewritten from `latest` (formatLike keeps each quote's
 * style), and what changed. Throws listing every quote that does not resolve or cannot be written,
 * so nothing is half rewritten.
 */
export function rewriteQuotes(
  markdown: string,
  file: string,
  latest: unknown,
): { text: string; changes: { line: number; expr: string; from: string; to: string }[] } {
  const quotes = parseQuotes(markdown, file);
  const errors: string[] = [];
  const replacements: { q: Quote; to: string }[] = [];
  for (const q of quotes) {
    try {
      replacements.push({ q, to: formatLike(evaluate(latest, q.expr), q.text) });
    } catch (error) {
      errors.push(`${file}:${q.line}: ${(error as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(errors.join('\n'));
  let text = markdown;
  for (const { q, to } of [...replacements].reverse()) text = text.slice(0, q.start) + to + text.slice(q.end);
  return { text, changes: replacements.filter((r) => r.q.text !== r.to).map((r) => ({ line: r.q.line, expr: r.q.expr, from: r.q.text, to: r.to })) };
}

/**
 * References in a Markdown text to a dated result file (a partial run's, an archived run's under
 * history/, or a dated report at the top of bench/results/): figures come from latest.json only
 * (issue 26). `latest.*`, `figures/`, `history/README.md` and named notes under history/ are not
 * dated files. Returns one message per reference, naming the file and line.
 */
export function partialSources(markdown: string, file: string): string[] {
  const out: string[] = [];
  const re = /(?:bench\/)?results\/(?:partial\/|history\/)?(?:oracle-)?\d{4}-\d{2}-\d{2}[\w.*{},-]*/g;
  for (const m of markdown.matchAll(re))
    out.push(
      `${file}:${lineOf(markdown, m.index ?? 0)}: cites ${m[0]}, a dated result file (a partial or archived run); quote bench/results/latest.json instead, or move the analysis to a note under bench/results/history/`,
    );
  for (const m of markdown.matchAll(/results\/partial\/(?!<)[^\s`)]+/g))
    if (!out.some((o) => o.includes(m[0])))
      out.push(`${file}:${lineOf(markdown, m.index ?? 0)}: cites ${m[0]}, a partial run's file; quote bench/results/latest.json instead`);
  return out;
}

/** README.md and docs/*.md under a repository root, as paths relative to it. */
export async function quotedFiles(root: string): Promise<string[]> {
  const docs = (await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => join('docs', f))];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const write = args.includes('--write');
  const latestAt = args.indexOf('--latest');
  const root = join(import.meta.dirname, '..');
  const latestPath = latestAt >= 0 ? args[latestAt + 1] : join(root, 'bench', 'results', 'latest.json');
  if (!latestPath) throw new Error('--latest needs a file');
  const unknown = args.filter((a, i) => !['--check', '--write', '--latest'].includes(a) && args[i - 1] !== '--latest');
  if (unknown.length > 0) throw new Error(`unknown argument(s) ${unknown.join(' ')}; use --check (default), --write, --latest FILE`);
  const latest = JSON.parse(await readFile(latestPath, 'utf8')) as unknown;
  const latestName = relative(root, latestPath).startsWith('..') ? latestPath : relative(root, latestPath);
  const files = await quotedFiles(root);
  let total = 0;
  if (write) {
    const out: { file: string; text: string }[] = [];
    const errors: string[] = [];
    for (const file of files) {
      const markdown = await readFile(join(root, file), 'utf8');
      try {
        const { text, changes } = rewriteQuotes(markdown, file, latest);
        total += parseQuotes(markdown, file).length;
        for (const c of changes) process.stdout.write(`${file}:${c.line}: ${c.from} -> ${c.to}   ${c.expr}\n`);
        if (text !== markdown) out.push({ file, text });
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
    if (errors.length > 0) throw new Error(`nothing written; these quotes do not resolve in ${latestName}:\n${errors.join('\n')}`);
    for (const { file, text } of out) await writeFile(join(root, file), text);
    process.stdout.write(
      `${total} quotes from ${latestName}; ${out.length} file(s) rewritten${out.length ? `: ${out.map((o) => o.file).join(', ')}` : ''}. Read the changed lines: the text around a figure may need a new word.\n`,
    );
    return;
  }
  const problems: string[] = [];
  for (const file of files) {
    const markdown = await readFile(join(root, file), 'utf8');
    const checked = checkQuotes(markdown, file, latest, latestName);
    total += checked.quotes.length;
    problems.push(...checked.problems.map((p) => p.message), ...partialSources(markdown, file));
  }
  if (problems.length > 0) throw new Error(`${problems.length} problem(s) in ${total} quotes:\n${problems.join('\n')}`);
  process.stdout.write(`${total} quotes in ${files.length} files match ${latestName}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    process.stderr.write(`quotes: ${(error as Error).message}\n`);
    process.exitCode = 1;
  });
}
