/** `virt-balancer simulate`: run the engine tick by tick on a simulated cluster (what-if; policy testing). */
import type { Command } from 'commander';
import { ConfigError, type Config, describeIssue, formatPath, parseConfig, readConfigFile, resolveConfigPaths } from '../../config/index.js';
import { powerSchema } from '../../config/power-schema.js';
import { loadScenario } from '../../sim/scenario-file.js';
import { Simulator, type SimTick } from '../../sim/simulator.js';
import { action, UserError } from '../errors.js';
import { loadConfiguredPolicies } from '../load-policies.js';
import { out } from '../output.js';
import { printableJson } from '../../log/printable.js';

/** The ticks as `simulate --json` prints them (moves started, moves queued for a slot, host CPU, VMs considered and not moved with why, and the policy errors of each tick). */
export function simulationJson(ticks: readonly SimTick[]): unknown {
  return ticks.map((t) => ({
    tick: t.tick,
    imbalance: t.imbalance,
    hostCpu: t.hostCpu,
    inFlight: t.inFlight,
    moves: t.moves.map((m) => ({ vm: m.vmName, from: m.from, to: m.to, technique: m.technique, reason: m.reason })),
    queued: t.queued,
    skipped: t.skipped.map((x) => ({ vm: x.vmName, reason: x.reason })),
    policyErrors: t.policyErrors,
    notices: t.notices,
  }));
}

/**
 * The ticks as `simulate` prints them: one line per tick, then its moves, the VMs a policy
 * nominated that stay (with why; a reason repeated from the tick before is not printed again) and
 * policy errors.
 */
export function renderSimulation(ticks: readonly SimTick[]): string {
  let out = '';
  let skippedBefore = new Set<string>();
  let noticesBefore = new Set<string>();
  for (const t of ticks) {
    const hosts = Object.entries(t.hostCpu)
      .map(([h, c]) => `${h} ${(c * 100).toFixed(0)}%`)
      .join('  ');
    out += `tick ${String(t.tick).padStart(3)}  imbalance ${t.imbalance.toFixed(3)}  ${hosts}${t.inFlight.length > 0 ? `  migrating: ${t.inFlight.join(', ')}` : ''}\n`;
    for (const m of t.moves) out += `          move ${m.vmName} ${m.from} -> ${m.to} by ${m.technique}: ${m.reason}\n`;
    // Over a migration budget (docs/scheduling.md): each starts when a running move ends.
    if (t.queued.length > 0) out += `          queued for a slot: ${t.queued.join(', ')}\n`;
    const skipped = new Set(t.skipped.map((x) => `${x.vmName}: ${x.reason}`));
    for (const line of skipped) if (!skippedBefore.has(line)) out += `          stays ${line}\n`;
    skippedBefore = skipped;
    // A notice repeated from the tick before is not printed again, as with the VMs that stay.
    const notices = new Set((t.notices ?? []).map((n) => `notice (${n.source}): ${n.message}`));
    for (const line of notices) if (!noticesBefore.has(line)) out += `          ${line}\n`;
    noticesBefore = notices;
    // Policies are tested here (docs/policies.md): their errors must show, not only a quiet plan.
    for (const e of t.policyErrors) out += `          policy error: ${e.policy}${e.vm ? ` (vm ${e.vm}${e.host ? ` -> ${e.host}` : ''})` : ''}: ${e.message}\n`;
  }
  return out;
}

/**
 * The config as `simulate` reads it: the hosts come from the scenario and power actions are not
 * simulated, so the power section is checked on its own, not against the config's hosts (with one
 * host entry, power.minAwakeHosts would refuse a config whose scenario has many). A config without
 * `hosts:` (a policy section alone, as docs/policies.md shows) is read with the scenario's hosts,
 * `scenarioHosts`, in their place: they are the cluster `simulate` plans for, and the checks that
 * name hosts (policy.maintenanceHosts...) are made against them. Throws ConfigError.
 */
export async function loadSimulationConfig(file: string, scenarioHosts: readonly { name: string }[] = []): Promise<Config> {
  const raw = await readConfigFile(file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return resolveConfigPaths(parseConfig(raw, file), file);
  const { power, ...rest } = raw as Record<string, unknown>;
  // Never connected to (simulate builds its cluster from the scenario); one daemon each, as the
  // config checks ask, under the reserved .invalid domain.
  if (rest.hosts === undefined && scenarioHosts.length > 0)
    rest.hosts = scenarioHosts.map((h, i) => ({ name: h.name, uri: `qemu+tcp://scenario-host-${i + 1}.invalid/system` }));
  const checked = powerSchema.safeParse(power ?? {}, { reportInput: true });
  let config: Config | undefined;
  const problems = checked.success ? [] : checked.error.issues.map((issue) => ({ path: formatPath(['power', ...issue.path]), message: describeIssue(issue) }));
  try {
    config = resolveConfigPaths(parseConfig(rest, file), file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.unshift(...error.problems);
  }
  if (problems.length > 0 || !config || !checked.success) throw new ConfigError(file, problems);
  return { ...config, power: checked.data };
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description("run the planner tick by tick on a simulated cluster (the config's policy section, a scenario of hosts and VM loads)")
    .requiredOption('-c, --config <file>', 'config file (its policy and migration sections are used; hosts come from the scenario, so hosts: may be left out)')
    .requiredOption('--scenario <file>', 'scenario YAML/JSON: hosts and VM loads (fields in docs/scenario-reference.md; examples in deploy/scenarios/)')
    .option('--ticks <n>', 'ticks to simulate', '20')
    .option('--json', 'print JSON')
    .action(
      action(async (options: { config: string; scenario: string; ticks: string; json?: boolean }) => {
        const tickCount = Number(options.ticks);
        if (!Number.isInteger(tickCount) || tickCount < 1) throw new UserError(`--ticks ${options.ticks}: give a whole number of ticks, 1 or more`, 2);
        const scenario = await loadScenario(options.scenario);
        const config = await loadSimulationConfig(options.config, scenario.hosts);
        const sim = new Simulator(scenario);
        const policies = await loadConfiguredPolicies(config, options.config);
        const ticks = [];
        for (let i = 0; i < tickCount; i++) ticks.push(await sim.tick({ config: config.policy, policies, migration: config.migration }));
        out(options.json ? printableJson(simulationJson(ticks), 2) + '\n' : renderSimulation(ticks));
      }),
    );
}
