/**
 * What a SIGHUP may change in a running daemon. Most of the config is applied (hosts,
 * thresholds, policies, schedule, webhooks, power, `log.level`); these are fixed at start and a
 * reload that changes them is refused whole, naming each, so the running daemon never says
 * "config reloaded" while still using the old value:
 * - `stateDir`: the directory the daemon holds locked and journals in (a second daemon could
 *   take the old one while this one still writes there);
 * - `metrics.listen`: the socket /metrics and /healthz are served on;
 * - `ha`: the etcd client and the election it runs;
 * - `api`: the HTTP API's listener, its TLS files and limits (its token file is read again when it changes).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.js';

/** Settings that need a restart to change, each with why. */
export const RESTART_ONLY_SETTINGS: readonly { path: string; get: (c: Config) => unknown }[] = [
  { path: 'stateDir', get: (c) => c.stateDir },
  { path: 'metrics.listen', get: (c) => c.metrics.listen },
  { path: 'ha', get: (c) => c.ha },
  { path: 'api', get: (c) => c.api },
];

/** The restart-only settings whose value differs between `running` and `next` (paths, in the list's order). */
export function settingsNeedingRestart(running: Config, next: Config): string[] {
  return RESTART_ONLY_SETTINGS.filter((s) => !isDeepStrictEqual(s.get(running), s.get(next))).map((s) => s.path);
}

/** The top-level sections of the config whose value changed (for the "config reloaded" line). */
export function changedSections(running: Config, next: Config): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)]);
  return [...keys].filter((k) => !isDeepStrictEqual((running as Record<string, unknown>)[k], (next as Record<string, unknown>)[k])).sort();
}
