/** docs/architecture.md's table of what each src/ folder imports is true of the code (both ways). */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './tools.js';

const src = join(repoRoot, 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Folder → the other src/ folders (and `policies`) its files import, types included. */
function realImports(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const file of tsFiles(src)) {
    const folder = relative(src, file).split('/')[0];
    const set = out.get(folder) ?? new Set<string>();
    out.set(folder, set);
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)['"]/g)) {
      const target = relative(src, resolve(dirname(file), m[1]));
      const top = target.startsWith('..') ? target.split('/')[1] : target.split('/')[0];
      if (top !== folder && !top.endsWith('.ts') && !top.endsWith('.js')) set.add(top);
    }
  }
  return out;
}

/** Folder → what its row names in the imports column (parenthesised notes left out). */
function documentedImports(): Map<string, string | Set<string>> {
  const text = readFileSync(join(repoRoot, 'docs/architecture.md'), 'utf8');
  const section = text.slice(text.indexOf('## Folders of `src/`'), text.indexOf('## Folders beside `src/`'));
  const out = new Map<string, string | Set<string>>();
  for (const line of section.split('\n')) {
    const m = /^\| `([a-z-]+)\/` \|.*\| ([^|]+) \|$/.exec(line);
    if (!m) continue;
    const cell = m[2].replace(/\([^)]*\)/g, '').trim();
    if (['nothing of ours', 'all of the above', 'anything'].includes(cell)) out.set(m[1], cell);
    else
      out.set(
        m[1],
        new Set(
          cell
            .split(/,| and /)
            .map((w) => w.trim())
            .filter(Boolean),
        ),
      );
  }
  return out;
}

describe('docs/architecture.md import table', () => {
  it('names every folder, and exactly the folders each one imports', () => {
    const real = realImports();
    const documented = documentedImports();
    expect([...documented.keys()].sort()).toEqual([...real.keys()].sort());
    const above = new Set<string>();
    for (const [folder, imports] of documented) {
      const actual = [...(real.get(folder) ?? [])].sort();
      if (imports === 'nothing of ours') expect(actual, folder).toEqual([]);
      else if (imports === 'all of the above') for (const f of actual) expect(above.has(f) || f === 'policies', `${folder} imports ${f}`).toBe(true);
      else if (imports instanceof Set) expect(actual, folder).toEqual([...imports].sort());
      above.add(folder);
    }
  });
});
