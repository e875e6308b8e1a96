/**
 * Reading the config file: YAML syntax errors and schema problems become one ConfigError that
 * lists every problem with the file, the field path, what was wrong and what is expected.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { parseLibvirtUriForConfig } from './uri-check.js';
import { configSchema, type Config } from './schema.js';

export interface ConfigProblem {
  /** Field path as written in YAML, e.g. `hosts[1].uri`; empty for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  - ${p.path || '(file)'}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling; see docs/config-reference.md)`;
    case 'invalid_type':
      return `expected ${issue.expected}${issue.input === undefined ? ' (missing)' : `, got ${describeValue(issue.input)}`}`;
    case 'invalid_value':
      return `got ${describeValue(issue.input)}; expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
    case 'too_small':
      return `${issue.message.replace(/^Too (big|small): /, '')}${issue.input !== undefined ? `, got ${describeValue(issue.input)}` : ''}`;
    default:
      return issue.message;
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Validate an already-parsed object; `file` names the source in errors. */
export function parseConfig(raw: unknown, file = '(config)'): Config {
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true });
  const problems: ConfigProblem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push({ path: formatPath(issue.path), message: describeIssue(issue) });
  } else {
    result.data.hosts.forEach((host, index) => {
      const uriProblem = parseLibvirtUriForConfig(host.uri);
      if (uriProblem) problems.push({ path: `hosts[${index}].uri`, message: uriProblem });
    });
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return result.data!;
}

/** Read, parse and validate a YAML config file. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [
      { path: '', message: code === 'ENOENT' ? 'file not found; pass --config with the path of your config (examples in deploy/config/)' : `cannot read: ${(e as Error).message}` },
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', message: `YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}` })),
    );
  }
  return parseConfig(doc.toJS(), file);
}
