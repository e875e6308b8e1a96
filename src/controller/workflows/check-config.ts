/** What `check-config` finds in a config file without connecting to a host: problems, rules no placement can meet. */
import { access, constants } from 'node:fs/promises';
import { ConfigError, type ConfigProblem, parseConfig, rawTlsFileInput, readConfigFile, resolveConfigPaths, tlsFileProblems } from '../../config/index.js';
import type { Config } from '../../config/index.js';
import { listenProblem } from '../../metrics/server.js';
import { powerProgramProblems } from '../../power/program.js';
import { TokenFile } from '../api/auth.js';

/** The default policies whose absence changes what an operator relies on, and what stops happening. */
export const DEFAULT_POLICY_DUTIES: [string, string][] = [
  ['maintenance', 'hosts in maintenance are not drained'],
  ['pin', 'policy.pinnedVms may be moved'],
  ['affinity', 'policy.affinityGroups are neither kept nor repaired'],
];

/**
 * Every problem of a config file that can be found without connecting: the schema and URI checks
 * (all of them, not only the first stage), metrics.listen, the TLS files it names and the power
 * commands' programs. Policies are
 * loaded only when the rest is valid (they read the validated config).
 */
export async function checkConfigFile(file: string): Promise<{ config?: Config; problems: ConfigProblem[] }> {
  const raw = await readConfigFile(file);
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = resolveConfigPaths(parseConfig(raw, file), file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const reported = new Set(problems.map((p) => p.path));
  const listen = (raw as { metrics?: { listen?: unknown } } | null)?.metrics?.listen;
  const badListen = typeof listen === 'string' && !reported.has('metrics.listen') ? listenProblem(listen) : undefined;
  if (badListen) problems.push({ path: 'metrics.listen', message: badListen.replace(/^metrics\.listen /, '') });
  problems.push(...(await tlsFileProblems(config ?? rawTlsFileInput(raw, file))).filter((p) => !reported.has(p.path)));
  if (config?.api?.tokenFile !== undefined)
    await new TokenFile(config.api.tokenFile).load().catch((error: Error) => problems.push({ path: 'api.tokenFile', message: error.message }));
  // One port cannot serve both: `run` would stop with EADDRINUSE.
  if (config?.api && config.api.listen === config.metrics.listen)
    problems.push({ path: 'api.listen', message: `"${config.api.listen}" is metrics.listen too; give the API its own host:port` });
  for (const field of ['certFile', 'keyFile', 'clientCaFile'] as const) {
    const at = config?.api?.tls?.[field];
    if (at !== undefined) await access(at, constants.R_OK).catch((error: Error) => problems.push({ path: `api.tls.${field}`, message: error.message }));
  }
  // The programs only matter when an action runs them (action none with commands is refused above).
  const power: { action?: unknown } | undefined = config ? config.power : (raw as { power?: { action?: unknown } } | null)?.power;
  if (power?.action === 'command' || power?.action === 'node-suspend')
    problems.push(...(await powerProgramProblems(power)).filter((p) => !reported.has(p.path)));
  return { config: problems.length === 0 ? config : undefined, problems };
}

/**
 * Rules the config asks for that no placement can meet, found from the config alone (issue 24:
 * these said "OK"): every host in maintenance (nothing can be drained anywhere), an anti-affinity
 * group with more VMs than hosts out of maintenance, and VMs both kept together and kept apart.
 * Warnings: the config is valid.
 */
export function unmeetableRules(config: Config): string[] {
  const found: string[] = [];
  const open = config.hosts.filter((h) => !h.maintenance);
  if (config.hosts.length > 0 && open.length === 0)
    found.push(
      `every host is in maintenance (hosts[].maintenance: ${config.hosts.map((h) => h.name).join(', ')}): their VMs have no host to go to and nothing is drained; take a host out of maintenance`,
    );
  for (const g of config.policy.affinityGroups) {
    if (g.type === 'spread') {
      const scope = g.scope;
      if (scope !== undefined && config.hosts.length > 0 && !config.hosts.some((h) => h.labels[scope] !== undefined))
        found.push(
          `spread group ${g.name} spreads its VMs by host label "${scope}", which no host has (hosts[].labels): each host counts as its own ${scope}; fix the label's name or label the hosts`,
        );
      const domains = new Set(open.map((h) => (scope !== undefined && h.labels[scope] !== undefined ? `label:${h.labels[scope]}` : `host:${h.name}`)));
      if (config.hosts.length > 0 && domains.size < 2)
        found.push(
          `spread group ${g.name} has ${domains.size} ${scope ?? 'host'}(s) out of maintenance to spread over: it spreads nothing until there are two; add a ${scope ?? 'host'}`,
        );
      continue;
    }
    if (g.type !== 'anti-affinity') continue;
    if (g.scope === undefined) {
      if (g.vms.length > open.length)
        found.push(
          `anti-affinity group ${g.name} has ${g.vms.length} VMs but only ${open.length} host(s) out of maintenance: at least ${g.vms.length - open.length} of them will always share a host; add hosts or shrink the group`,
        );
      continue;
    }
    const scope = g.scope;
    // A label no host carries is most likely a typo: every host would be its own domain.
    if (config.hosts.length === 0) continue;
    if (!config.hosts.some((h) => h.labels[scope] !== undefined))
      found.push(
        `anti-affinity group ${g.name} keeps its VMs apart by host label "${scope}", which no host has (hosts[].labels): each host counts as its own ${scope}; fix the label's name or label the hosts`,
      );
    // A host without the label is a domain of its own (as the rule judges it).
    const domains = new Set(open.map((h) => (h.labels[scope] !== undefined ? `label:${h.labels[scope]}` : `host:${h.name}`)));
    if (g.vms.length > domains.size)
      found.push(
        `anti-affinity group ${g.name} has ${g.vms.length} VMs but only ${domains.size} ${scope}(s) among the hosts out of maintenance: at least ${g.vms.length - domains.size} of them will always share a ${scope}; add a ${scope} or shrink the group`,
      );
  }
  // Bearer tokens in clear text over a network: allowed (a TLS-terminating proxy may sit in front), said.
  const api = config.api;
  if (api && !api.tls && !/^(?:127\.\d+\.\d+\.\d+|localhost|\[::1\]):/.test(api.listen))
    found.push(
      `api.listen ${api.listen} is not a loopback address and api.tls is not set: bearer tokens and answers cross the network in clear text; set api.tls (certFile, keyFile), or listen on 127.0.0.1 behind a TLS proxy`,
    );
  // Failover headroom for more hosts than there are to fail over to.
  const failures = config.policy.headroom.hostFailures;
  if (failures > 0 && config.hosts.length > 0 && failures >= open.length)
    found.push(
      `policy.headroom.hostFailures is ${failures} but only ${open.length} host(s) are out of maintenance: no host would be left to take their VMs, so every move the headroom judges is refused; lower it below ${open.length}`,
    );
  // A pair in a keep-together group and in a keep-apart group: whatever host they share or not,
  // one rule is broken.
  const together = config.policy.affinityGroups.filter((g) => g.type === 'affinity');
  for (const apart of config.policy.affinityGroups.filter((g) => g.type === 'anti-affinity')) {
    for (const g of together) {
      const both = [...new Set(g.vms.filter((vm) => apart.vms.includes(vm)))];
      if (both.length >= 2)
        found.push(
          `${both.join(', ')} are in affinity group ${g.name} (keep together) and in anti-affinity group ${apart.name} (keep apart): both cannot hold; take them out of one of the two`,
        );
    }
  }
  return found;
}
