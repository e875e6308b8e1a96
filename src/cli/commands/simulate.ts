/** `virt-balancer simulate`: run the engine tick by tick on a simulated cluster (what-if; policy testing). */
import type { Command } from 'commander';
import { loadScenario } from '../../sim/scenario-file.js';
import { loadSimulationConfig } from '../../sim/simulation-config.js';
import { Simulator } from '../../sim/simulator.js';
import { action, UserError } from '../errors.js';
import { renderSimulation, simulationJson } from '../format-simulate.js';
import { loadConfiguredPolicies } from '../load-policies.js';
import { out } from '../output.js';
import { printableJson } from '../../log/printable.js';

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
