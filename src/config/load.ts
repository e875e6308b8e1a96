/**
 * Reading the config file: YAML syntax errors and schema problems become one ConfigError that
 * lists every problem with the file, the field path, what was wrong and what is expected.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { libvirtDaemonKey, parseLibvirtUri, quoteUri, type ParsedLibvirtUri } from '../libvirt/uri.js';
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

/** At most this many characters of a bad value are quoted back (binary garbage can be megabytes). */
const QUOTE_MAX_CHARS = 80;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  // JSON has no NaN or Infinity (it writes null): name them as YAML's .nan and .inf.
  if (typeof value === 'number' && !Number.isFinite(value))
    return `${Number.isNaN(value) ? 'NaN (.nan)' : `${value < 0 ? '-' : ''}Infinity (.inf)`}; give a finite number`;
  if (typeof value === 'string' && value.length > QUOTE_MAX_CHARS)
    return `string ${JSON.stringify(value.slice(0, QUOTE_MAX_CHARS)).slice(0, -1)}..." (${value.length} characters)`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Each host's URI through the client's own parser (so config accepts only what the client can
 * connect with), then virt-balancer's own limits (qemu driver, a path), then duplicates: two
 * entries whose URIs reach one daemon would show every VM twice and plan moves from a host to
 * itself, which libvirt refuses ("Attempt to migrate guest to the same host").
 */
function hostUriProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const byKey = new Map<string, number>();
  config.hosts.forEach((host, index) => {
    const path = `hosts[${index}].uri`;
    let parsed: ParsedLibvirtUri;
    try {
      parsed = parseLibvirtUri(host.uri);
    } catch (error) {
      problems.push({ path, message: (error as Error).message });
      return;
    }
    if (!['qemu', 'test'].includes(parsed.driver)) {
      problems.push({
        path,
        message: `driver "${parsed.driver}" is not supported; virt-balancer balances qemu hosts (qemu:///system, qemu+tcp://host/system, ...)`,
      });
      return;
    }
    if (parsed.path === '/' && !parsed.params.name) {
      problems.push({ path, message: `${quoteUri(host.uri)} has no path; add /system (e.g. ${host.uri.replace(/\/?(\?.*)?$/, '/system$1')})` });
      return;
    }
    const key = libvirtDaemonKey(parsed);
    const first = byKey.get(key);
    if (first !== undefined) {
      const other = config.hosts[first];
      problems.push({
        path,
        message: `host "${host.name}" (${quoteUri(host.uri)}) is the same libvirt daemon as hosts[${first}] "${other.name}" (${quoteUri(other.uri)}): the URIs differ only in spelling (both are ${key}); list each libvirt host once: remove "${host.name}"`,
      });
    } else byKey.set(key, index);
  });
  return problems;
}

/** Validate an already-parsed object; `file` names the source in errors. */
export function parseConfig(raw: unknown, file = '(config)'): Config {
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true });
  const problems: ConfigProblem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push({ path: formatPath(issue.path), message: describeIssue(issue) });
  } else {
    problems.push(...hostUriProblems(result.data));
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return result.data!;
}

const YAML_ERRORS_SHOWN = 10;

/** Read, parse and validate a YAML config file; throws ConfigError naming the file and each problem. */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [
      {
        path: '',
        message:
          code === 'ENOENT'
            ? 'file not found; pass --config with the path of your config (examples in deploy/config/)'
            : `cannot read: ${(e as Error).message}`,
      },
    ]);
  }
  // Binary data (a wrong file, a disk image) would echo megabytes of YAML errors: say what it is.
  if (text.includes('\u0000') || (text.match(/\uFFFD/g)?.length ?? 0) > 8) {
    throw new ConfigError(file, [
      { path: '', message: `is not a YAML text file (binary data, ${text.length} characters); pass --config with the path of your config` },
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const shown = doc.errors
      .slice(0, YAML_ERRORS_SHOWN)
      .map((e) => ({ path: '', message: `YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0].slice(0, 160)}` }));
    if (doc.errors.length > YAML_ERRORS_SHOWN) shown.push({ path: '', message: `... and ${doc.errors.length - YAML_ERRORS_SHOWN} more YAML errors` });
    throw new ConfigError(file, shown);
  }
  let raw: unknown;
  try {
    // yaml refuses documents whose aliases expand past its limit (a "billion laughs" bomb).
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(file, [
      {
        path: '',
        message: `YAML cannot be read: ${(error as Error).message.split('\n')[0].slice(0, 200)}; write the values out instead of expanding aliases (&anchor / *alias) this much`,
      },
    ]);
  }
  return parseConfig(raw, file);
}
