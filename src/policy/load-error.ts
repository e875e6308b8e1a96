/**
 * A policy module that fails to import, described with where it failed: tsx reports TypeScript
 * syntax errors as "Transform failed with 1 error:\nFILE:LINE:COL: ERROR: ..." (the location is
 * on the second line), and Node reports a JavaScript SyntaxError in an ES module with no location
 * at all, so `node --check` is asked for it.
 */
import { execFileSync } from 'node:child_process';

const MAX_CHARS = 600;

/** One readable description of why importing `path` failed, keeping file:line:column. */
export function describeModuleLoadError(path: string, error: unknown): string {
  // Not always an Error instance (another realm, a loader's plain object): read its fields.
  const fields = (typeof error === 'object' && error !== null ? error : {}) as { message?: unknown };
  const message = typeof fields.message === 'string' ? fields.message : String(error);
  let text = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, 4)
    .join(' ');
  const hasLocation = /:\d+(:\d+)?\b/.test(text);
  // Without a location, a JavaScript module may have a syntax error Node did not place: ask node
  // --check (it says nothing for a module that parses, e.g. one that threw while running).
  if (!hasLocation && /\.(m?js|cjs)$/.test(path)) {
    const where = syntaxLocation(path);
    if (where) text = `${where}: ${text}`;
  }
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}...` : text;
}

/** `FILE:LINE` and the offending line, from `node --check` (which prints them, unlike import()). */
function syntaxLocation(path: string): string | undefined {
  try {
    execFileSync(process.execPath, ['--check', path], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    return undefined;
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '');
    const [first, code] = stderr.split('\n');
    if (!/:\d+$/.test(first ?? '')) return undefined;
    return `${first.replace(/^file:\/\//, '')}${code?.trim() ? ` (${code.trim().slice(0, 120)})` : ''}`;
  }
}
