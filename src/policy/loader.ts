/**
 * Loading policies: the built-ins in policies/ and modules from config's policyDirs, enabled and
 * weighted as config says. Errors name the policy or the file and what to do.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PolicyConfig } from '../config/policy-schema.js';
import affinity from '../../policies/affinity.js';
import balance from '../../policies/balance.js';
import capacity from '../../policies/capacity.js';
import consolidation from '../../policies/consolidation.js';
import cpuCompat from '../../policies/cpu-compat.js';
import maintenance from '../../policies/maintenance.js';
import pin from '../../policies/pin.js';
import type { Policy } from './api.js';
import { describeModuleLoadError } from './load-error.js';

export const BUILTIN_POLICIES: readonly Policy[] = [balance, capacity, maintenance, pin, affinity, cpuCompat, consolidation];

export interface LoadedPolicy {
  policy: Policy;
  weight: number;
  options: Record<string, unknown>;
  /** Where it came from: "built-in" or a file path. */
  source: string;
}

export class PolicyLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyLoadError';
  }
}

function isPolicy(value: unknown): value is Policy {
  return Boolean(value) && typeof (value as Policy).name === 'string' && ['select', 'filter', 'score', 'technique'].some((k) => typeof (value as Record<string, unknown>)[k] === 'function');
}

async function loadDir(dir: string): Promise<LoadedPolicy[]> {
  const absolute = resolve(dir);
  if (!existsSync(absolute)) throw new PolicyLoadError(`policy directory ${absolute} (policy.policyDirs) does not exist; create it or remove it from the config`);
  const found: LoadedPolicy[] = [];
  for (const file of (await readdir(absolute)).sort()) {
    if (!['.ts', '.js', '.mjs'].includes(extname(file)) || file.endsWith('.d.ts') || file.includes('.test.')) continue;
    const path = join(absolute, file);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (error) {
      throw new PolicyLoadError(`policy module ${path} failed to load: ${describeModuleLoadError(path, error)}`);
    }
    const policy = mod.default ?? mod.policy;
    if (!isPolicy(policy)) throw new PolicyLoadError(`policy module ${path} exports no policy: default-export definePolicy({ name, filter/score/select/technique })`);
    found.push({ policy, weight: 1, options: {}, source: path });
  }
  return found;
}

/** The policies config enables, in config order, with their weights and options. */
export async function loadPolicies(config: PolicyConfig): Promise<LoadedPolicy[]> {
  const available = new Map<string, LoadedPolicy>();
  for (const policy of BUILTIN_POLICIES) available.set(policy.name, { policy, weight: 1, options: {}, source: 'built-in' });
  for (const dir of config.policyDirs) {
    for (const loaded of await loadDir(dir)) {
      if (available.has(loaded.policy.name) && available.get(loaded.policy.name)!.source !== 'built-in') {
        throw new PolicyLoadError(`two policies are named "${loaded.policy.name}": ${available.get(loaded.policy.name)!.source} and ${loaded.source}; rename one`);
      }
      available.set(loaded.policy.name, loaded);
    }
  }
  const enabled: LoadedPolicy[] = [];
  config.policies.forEach((entry, index) => {
    const found = available.get(entry.name);
    if (!found) {
      throw new PolicyLoadError(`policy.policies[${index}].name: no policy named "${entry.name}"; available: ${[...available.keys()].join(', ')} (custom policies load from policy.policyDirs)`);
    }
    if (entry.enabled) enabled.push({ ...found, weight: entry.weight, options: entry.options });
  });
  return enabled;
}

/** The built-ins enabled by the default config, without touching the filesystem (trace replays call plan() thousands of times). */
export function defaultPolicies(config: PolicyConfig): LoadedPolicy[] {
  const byName = new Map(BUILTIN_POLICIES.map((p) => [p.name, p]));
  return config.policies.filter((e) => e.enabled && byName.has(e.name)).map((e) => ({ policy: byName.get(e.name)!, weight: e.weight, options: e.options, source: 'built-in' }));
}
