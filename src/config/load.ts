/**
 * Reading the config file: YAML syntax errors and schema problems become one ConfigError that
 * lists every problem with the file, the field path, what was wrong and what is expected.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { CLIENT_PARAM_NAMES, libvirtDaemonKey, parseLibvirtUri, quoteUri, UNIMPLEMENTED_CLIENT_PARAMS, type ParsedLibvirtUri } from '../libvirt/uri.js';
import { configSchema, type Config } from './schema.js';
import { ignoredPowerSettingProblems } from './power-schema.js';

export interface ConfigProblem {
  /** Field path as written in YAML, e.g. `hosts[1].uri`; empty for the whole file. */
  path: string;
  message: string;
}

/** Every problem of one input file (a config or, with `kind` 'scenario', a simulate scenario), one line each with its field path. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
    readonly kind: 'config' | 'scenario' = 'config',
  ) {
    super(`invalid ${kind} ${file}:\n${problems.map((p) => `  - ${p.path || '(file)'}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

/** One zod issue in words: what was wrong and what is expected; `reference` is the doc listing the fields. */
export function describeIssue(issue: z.core.$ZodIssue, reference = 'docs/config-reference.md'): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling; see ${reference})`;
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

/** A host entry as far as the URI checks need it: taken from the raw YAML, so they run even when other fields are wrong. */
interface HostUri {
  index: number;
  name: string;
  uri: string;
}

/**
 * Each host's URI through the client's own parser (so config accepts only what the client can
 * connect with), then virt-balancer's own limits (qemu driver, a path, query parameters the client
 * reads), then duplicates: two entries whose URIs reach one daemon would show every VM twice and
 * plan moves from a host to itself, which libvirt refuses ("Attempt to migrate guest to the same host").
 */
function hostUriProblems(hosts: HostUri[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const byKey = new Map<string, HostUri>();
  for (const host of hosts) {
    const path = `hosts[${host.index}].uri`;
    let parsed: ParsedLibvirtUri;
    try {
      parsed = parseLibvirtUri(host.uri);
    } catch (error) {
      problems.push({ path, message: (error as Error).message });
      continue;
    }
    if (!['qemu', 'test'].includes(parsed.driver)) {
      problems.push({
        path,
        message: `driver "${parsed.driver}" is not supported; virt-balancer balances qemu hosts (qemu:///system, qemu+tcp://host/system, ...)`,
      });
      continue;
    }
    if (parsed.path === '/' && !parsed.params.name) {
      problems.push({ path, message: `${quoteUri(host.uri)} has no path; add /system (e.g. ${host.uri.replace(/\/?(\?.*)?$/, '/system$1')})` });
      continue;
    }
    const paramProblems = Object.keys(parsed.params).flatMap((param) => uriParamProblem(host, param));
    if (paramProblems.length > 0) {
      problems.push(...paramProblems.map((message) => ({ path, message })));
      continue;
    }
    const key = libvirtDaemonKey(parsed);
    const first = byKey.get(key);
    if (first !== undefined) {
      problems.push({
        path,
        message: `host "${host.name}" (${quoteUri(host.uri)}) is the same libvirt daemon as hosts[${first.index}] "${first.name}" (${quoteUri(first.uri)}): the URIs differ only in spelling (both are ${key}); list each libvirt host once: remove "${host.name}"`,
      });
    } else byKey.set(key, host);
  }
  return problems;
}

/**
 * A query parameter the client does not read would be accepted and do nothing (a typo of
 * pkipath leaves the default certificates in use): refused, naming the host and the parameter.
 */
function uriParamProblem(host: HostUri, param: string): string[] {
  const unimplemented = UNIMPLEMENTED_CLIENT_PARAMS[param];
  if (unimplemented) return [`host "${host.name}": URI parameter "${param}" is not supported by virt-balancer's libvirt client (${unimplemented}); remove it`];
  if (CLIENT_PARAM_NAMES.includes(param)) return [];
  const near = CLIENT_PARAM_NAMES.find((known) => editDistance(known, param.toLowerCase()) <= 2);
  return [
    `host "${host.name}": unknown URI parameter "${param}"${near ? ` (did you mean "${near}"?)` : ''}; the parameters virt-balancer reads are ${CLIENT_PARAM_NAMES.join(', ')}: remove it or fix its spelling`,
  ];
}

/** Levenshtein distance, for "did you mean" on short names. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** Host entries of the raw YAML whose name and uri are strings, for checks that do not need the whole config valid. */
function rawHostUris(raw: unknown): HostUri[] {
  const hosts = (raw as { hosts?: unknown } | null)?.hosts;
  if (!Array.isArray(hosts)) return [];
  return hosts.flatMap((h: unknown, index) => {
    const { name, uri } = (h ?? {}) as { name?: unknown; uri?: unknown };
    return typeof uri === 'string' && uri !== '' ? [{ index, name: typeof name === 'string' ? name : `hosts[${index}]`, uri }] : [];
  });
}

/**
 * Settings the schema accepts that the chosen goal would never read, or that work against it:
 * refused, so what is written is what runs. `raw` is the YAML as written (defaults not applied).
 */
function ignoredSettingProblems(raw: unknown, config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const policy = ((raw as { policy?: unknown } | null)?.policy ?? {}) as { spread?: Record<string, unknown>; consolidation?: unknown };
  if (config.policy.goal === 'consolidate' && policy.spread && Object.entries(policy.spread).some(([k, v]) => !(k === 'enabled' && v === false))) {
    problems.push({
      path: 'policy.spread',
      message:
        'is not used with policy.goal: consolidate (consolidating packs hosts; spread balancing is off); remove policy.spread, or set policy.goal: balance to spread the load',
    });
  }
  problems.push(...ignoredPowerSettingProblems((raw as { power?: unknown } | null)?.power, config.power));
  if (config.policy.goal === 'balance') {
    const at = config.policy.policies?.findIndex((p) => p.name === 'consolidation' && p.enabled) ?? -1;
    if (at >= 0) {
      problems.push({
        path: `policy.policies[${at}]`,
        message:
          "the consolidation policy packs VMs onto fewer hosts while policy.goal: balance spreads them, so the two undo each other's moves; set policy.goal: consolidate (it runs the consolidation policy without listing it) or remove it from policy.policies",
      });
    } else if (policy.consolidation !== undefined) {
      problems.push({
        path: 'policy.consolidation',
        message: 'is read only with policy.goal: consolidate; set policy.goal: consolidate, or remove policy.consolidation',
      });
    }
  }
  return problems;
}

/** Validate an already-parsed object; `file` names the source in errors. Every independent problem is listed at once. */
export function parseConfig(raw: unknown, file = '(config)'): Config {
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true });
  const problems: ConfigProblem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) problems.push({ path: formatPath(issue.path), message: describeIssue(issue) });
    // The URIs are checked on what was written, so a bad host name does not hide a bad URI.
    const reported = new Set(problems.map((p) => p.path));
    problems.push(...hostUriProblems(rawHostUris(raw)).filter((p) => !reported.has(p.path)));
  } else {
    problems.push(...hostUriProblems(result.data.hosts.map((h, index) => ({ index, name: h.name, uri: h.uri }))));
    problems.push(...ignoredSettingProblems(raw, result.data));
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return result.data!;
}

/**
 * Longest Unix socket path taken: sun_path is 108 bytes, NUL included for a portable path
 * (unix(7)). The daemon's control socket is `<stateDir>/control.sock`; Node binds a longer path
 * cut short without a word (a 109-byte path made `control.soc`), so commands would not find the
 * daemon and would run a second executor beside it.
 */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

/** Why `<stateDir>/control.sock` cannot be a Unix socket path (too long), or undefined when it can. */
export function controlSocketPathProblem(stateDir: string): string | undefined {
  const path = join(stateDir, 'control.sock');
  const bytes = Buffer.byteLength(path);
  if (bytes <= MAX_UNIX_SOCKET_PATH_BYTES) return undefined;
  return `"${stateDir}" is too long for the daemon's control socket ${path} (${bytes} bytes; a Unix socket path has at most ${MAX_UNIX_SOCKET_PATH_BYTES}): choose a state directory of at most ${MAX_UNIX_SOCKET_PATH_BYTES - 13} bytes`;
}

/**
 * Relative paths in the config are taken from the config file's directory (not from wherever the
 * command was started), so `virt-balancer plan -c /etc/x/config.yaml` and `run` under systemd read
 * the same files: stateDir, the TLS files and policy.policyDirs. @throws ConfigError naming `stateDir` when
 * its control socket path would be too long for a Unix socket.
 */
export function resolveConfigPaths(config: Config, file: string): Config {
  const dir = dirname(resolve(file));
  const at = (p: string) => resolve(dir, p);
  const socketProblem = controlSocketPathProblem(at(config.stateDir));
  if (socketProblem) throw new ConfigError(file, [{ path: 'stateDir', message: socketProblem }]);
  const at2 = (p: string | undefined) => (p === undefined ? undefined : at(p));
  const tls = config.libvirt.tls;
  return {
    ...config,
    stateDir: at(config.stateDir),
    libvirt: tls ? { ...config.libvirt, tls: { caFile: at2(tls.caFile), certFile: at2(tls.certFile), keyFile: at2(tls.keyFile) } } : config.libvirt,
    policy: { ...config.policy, policyDirs: config.policy.policyDirs.map(at) },
    ...(config.api
      ? {
          api: {
            ...config.api,
            tokenFile: at2(config.api.tokenFile),
            ...(config.api.tls
              ? { tls: { certFile: at(config.api.tls.certFile), keyFile: at(config.api.tls.keyFile), clientCaFile: at2(config.api.tls.clientCaFile) } }
              : {}),
          },
        }
      : {}),
    ...(config.ha
      ? {
          ha: {
            ...config.ha,
            ...(config.ha.tls
              ? { tls: { ...config.ha.tls, caFile: at(config.ha.tls.caFile), certFile: at2(config.ha.tls.certFile), keyFile: at2(config.ha.tls.keyFile) } }
              : {}),
          },
        }
      : {}),
  };
}

const YAML_ERRORS_SHOWN = 10;

/** Read, parse and validate a YAML config file; throws ConfigError naming the file and each problem. */
export async function loadConfig(file: string): Promise<Config> {
  return resolveConfigPaths(parseConfig(await readConfigFile(file), file), file);
}

/** Read and parse a YAML config file, unvalidated; throws ConfigError when it cannot be read or is not YAML. */
export function readConfigFile(file: string): Promise<unknown> {
  return readYamlFile(file, 'config', '--config', 'examples in deploy/config/');
}

/**
 * Read and parse a YAML (or JSON) input file, unvalidated; throws ConfigError of `kind` naming
 * the file when it is missing, unreadable, binary or not YAML. `option` and `examples` go into the fix.
 */
export async function readYamlFile(file: string, kind: 'config' | 'scenario', option: string, examples: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      file,
      [
        {
          path: '',
          message: code === 'ENOENT' ? `file not found; pass ${option} with the path of your ${kind} (${examples})` : `cannot read: ${(e as Error).message}`,
        },
      ],
      kind,
    );
  }
  // Binary data (a wrong file, a disk image) would echo megabytes of YAML errors: say what it is.
  if (text.includes('\u0000') || (text.match(/\uFFFD/g)?.length ?? 0) > 8) {
    throw new ConfigError(
      file,
      [{ path: '', message: `is not a YAML text file (binary data, ${text.length} characters); pass ${option} with the path of your ${kind}` }],
      kind,
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const shown = doc.errors
      .slice(0, YAML_ERRORS_SHOWN)
      .map((e) => ({ path: '', message: `YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0].slice(0, 160)}` }));
    if (doc.errors.length > YAML_ERRORS_SHOWN) shown.push({ path: '', message: `... and ${doc.errors.length - YAML_ERRORS_SHOWN} more YAML errors` });
    throw new ConfigError(file, shown, kind);
  }
  let raw: unknown;
  try {
    // yaml refuses documents whose aliases expand past its limit (a "billion laughs" bomb).
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(
      file,
      [
        {
          path: '',
          message: `YAML cannot be read: ${(error as Error).message.split('\n')[0].slice(0, 200)}; write the values out instead of expanding aliases (&anchor / *alias) this much`,
        },
      ],
      kind,
    );
  }
  return raw;
}
