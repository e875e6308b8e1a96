/**
 * Built-in policies register themselves here when their module is imported (policies/index.ts
 * imports them all; the entry points `cli`, `controller`, `sim` and the benchmarks import that),
 * so the engine and the loader know them by name without importing policies/ (which imports the
 * policy API: the arrow points one way). Custom policies are not registered: the loader runs them
 * in worker threads from the files config names.
 */
import type { Policy } from './api.js';

const builtins = new Map<string, Policy>();

/**
 * Register a built-in policy under its name; returns it, so a module can
 * `export default registerBuiltinPolicy(definePolicy({...}))`.
 * @throws Error when another built-in already has the name.
 */
export function registerBuiltinPolicy<P extends Policy>(policy: P): P {
  const existing = builtins.get(policy.name);
  if (existing && existing !== policy) throw new Error(`two built-in policies named "${policy.name}"; rename one`);
  builtins.set(policy.name, policy);
  return policy;
}

/**
 * The registered built-ins, in registration order.
 * @throws Error when none is registered: the program forgot to import policies/index.js, and
 * planning without the built-ins would silently plan nothing.
 */
export function builtinPolicies(): ReadonlyMap<string, Policy> {
  if (builtins.size === 0)
    throw new Error(
      'no built-in policies are registered: import "policies/index.js" once at the entry point (cli, controller, simulator, benchmark, or the test setup)',
    );
  return builtins;
}
