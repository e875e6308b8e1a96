/**
 * Loading policies: the built-ins (registered by policies/ itself, registry.ts) and, for each name
 * config lists that is not a built-in (or that a file overrides), the module <name>.ts/.js/.mjs
 * from config's policyDirs. A name that is now a core filter (`capacity`) is accepted and skipped:
 * the engine applies that rule always (core-filters.ts).
 * Only modules config names are loaded; policy directories and files must be owned by root or the
 * user we run as and not be writable by group or others (their code runs with our privileges).
 * Custom modules run in worker threads (isolated-policy.ts). Errors name the policy or the file
 * and what to do.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { PolicyConfig } from '../config/policy-schema.js';
import type { Policy } from './api.js';
import { FORMER_POLICY_CORE_FILTERS } from './core-filters.js';
import { IsolatedPolicy } from './isolated-policy.js';
import { builtinPolicies } from './registry.js';

export interface LoadedPolicy {
  policy: Policy;
  weight: number;
  options: Record<string, unknown>;
  /** Where it came from: "built-in" or a file path. */
  source: string;
  /** Stops what runs the policy (the worker thread of a custom policy). */
  close?: () => Promise<void>;
}

export class PolicyLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyLoadError';
  }
}

export interface LoadPoliciesOptions {
  /** How long a custom module may take to import, ms. Default 10000. */
  importTimeoutMs?: number;
}

const POLICY_EXTENSIONS = ['.ts', '.js', '.mjs'];

const isPolicyFile = (file: string) => POLICY_EXTENSIONS.includes(extname(file)) && !file.endsWith('.d.ts') && !file.includes('.test.');

/**
 * Refuse a policy file or directory others could change: writable by group or others, or owned by
 * someone other than root or the user we run as.
 * @throws PolicyLoadError naming the path and the command that fixes it.
 */
async function checkTrusted(path: string, what: 'file' | 'directory'): Promise<void> {
  const st = await stat(path);
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) {
    throw new PolicyLoadError(
      `policy ${what} ${path} is owned by uid ${st.uid}, not root or the user virt-balancer runs as (uid ${uid}); its code would run with our privileges: chown root ${path}`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new PolicyLoadError(
      `policy ${what} ${path} is writable by ${st.mode & 0o020 ? 'group' : ''}${(st.mode & 0o022) === 0o022 ? ' and ' : ''}${st.mode & 0o002 ? 'others' : ''} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); anyone who can write it runs code as virt-balancer: chmod go-w ${path}`,
    );
  }
}

/** The policy directories, checked: each exists and is trusted. */
async function checkDirs(config: PolicyConfig): Promise<string[]> {
  const dirs: string[] = [];
  for (const dir of config.policyDirs) {
    const absolute = resolve(dir);
    if (!existsSync(absolute))
      throw new PolicyLoadError(`policy directory ${absolute} (policy.policyDirs) does not exist; create it or remove it from the config`);
    await checkTrusted(absolute, 'directory');
    dirs.push(absolute);
  }
  return dirs;
}

/** The module file for a policy name in the policy directories, if any (two is an error). */
function findModule(name: string, dirs: readonly string[]): string | undefined {
  const found = dirs.flatMap((dir) => POLICY_EXTENSIONS.map((ext) => join(dir, `${name}${ext}`))).filter((file) => existsSync(file));
  if (found.length > 1) throw new PolicyLoadError(`two modules for policy "${name}": ${found.join(' and ')}; keep one`);
  return found[0];
}

/** The policies config enables, in config order, with their weights and options. */
export async function loadPolicies(config: PolicyConfig, options: LoadPoliciesOptions = {}): Promise<LoadedPolicy[]> {
  const dirs = await checkDirs(config);
  const builtins = builtinPolicies();
  const enabled: LoadedPolicy[] = [];
  try {
    for (const [index, entry] of policyEntries(config).entries()) {
      const file = findModule(entry.name, dirs);
      if (!file && FORMER_POLICY_CORE_FILTERS.has(entry.name)) continue;
      if (!file && !builtins.has(entry.name)) {
        const files = (await Promise.all(dirs.map((d) => readdir(d))))
          .flat()
          .filter(isPolicyFile)
          .map((f) => basename(f, extname(f)));
        const available = [...new Set([...builtins.keys(), ...files])];
        throw new PolicyLoadError(
          `policy.policies[${index}].name: no policy named "${entry.name}"; available: ${available.join(', ')} (custom policies load from <name>.ts, .js or .mjs in policy.policyDirs)`,
        );
      }
      if (!entry.enabled) continue;
      if (!file) {
        const policy = builtins.get(entry.name)!;
        refuseOptionProblems(index, entry.name, policy.checkOptions?.(entry.options) ?? []);
        enabled.push({ policy, weight: entry.weight, options: entry.options, source: 'built-in' });
        continue;
      }
      // Checked before every import of the module, the first and each restart after a timeout or
      // a crash: the file and its directory may have changed since the start.
      const beforeStart = async () => {
        await checkTrusted(dirname(file), 'directory');
        await checkTrusted(file, 'file');
      };
      let isolated: IsolatedPolicy;
      try {
        isolated = await IsolatedPolicy.load(file, {
          callTimeoutMs: config.policyTimeoutMs,
          importTimeoutMs: options.importTimeoutMs ?? 10_000,
          maxMemoryMiB: config.policyMemoryMiB,
          beforeStart,
          policyOptions: entry.options,
        });
      } catch (error) {
        throw new PolicyLoadError((error as Error).message);
      }
      const loaded: LoadedPolicy = { policy: isolated.policy, weight: entry.weight, options: entry.options, source: file, close: () => isolated.close() };
      enabled.push(loaded);
      if (isolated.name !== entry.name)
        throw new PolicyLoadError(
          `policy module ${file} defines a policy named "${isolated.name}", not "${entry.name}"; a module is named after its policy (rename the file or the policy)`,
        );
      refuseOptionProblems(index, entry.name, isolated.optionProblems);
    }
  } catch (error) {
    await closePolicies(enabled);
    throw error;
  }
  return enabled;
}

/**
 * @throws PolicyLoadError listing each of a policy's option problems under its config path
 *   (`policy.policies[0].options.crowdedFactor is "3": it must be a number ...`).
 */
function refuseOptionProblems(index: number, name: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  throw new PolicyLoadError(`${name}: ${problems.map((p) => `policy.policies[${index}].options.${p}`).join('; ')}`);
}

/** Stop the workers of custom policies (after a reload replaced them, or at shutdown). */
export async function closePolicies(policies: readonly LoadedPolicy[]): Promise<void> {
  await Promise.all(policies.map((p) => p.close?.()));
}

/** The built-ins enabled by the default config, without touching the filesystem (trace replays call plan() thousands of times). */
export function defaultPolicies(config: PolicyConfig): LoadedPolicy[] {
  const byName = builtinPolicies();
  return policyEntries(config)
    .filter((e) => e.enabled && byName.has(e.name))
    .map((e) => ({ policy: byName.get(e.name)!, weight: e.weight, options: e.options, source: 'built-in' }));
}

/** config.policies, plus the consolidation policy when policy.goal is consolidate and the list does not name it (an entry that names it, even disabled, wins). */
export function policyEntries(config: PolicyConfig): PolicyConfig['policies'] {
  if (config.goal !== 'consolidate' || config.policies.some((e) => e.name === 'consolidation')) return config.policies;
  return [...config.policies, { name: 'consolidation', enabled: true, weight: 1, options: {} }];
}
