/** `virt-balancer plan`: one collection and planning pass; changes nothing. */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { planNow } from '../../controller/workflows/plan.js';
import { printableJson } from '../../log/printable.js';
import { action, UserError } from '../errors.js';
import { planJson, renderPlan } from '../format-plan.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { out } from '../output.js';

export { hostStatus, planJson, renderPlan, timeoutWarning } from '../format-plan.js';

export function register(program: Command): void {
  program
    .command('plan')
    .description('collect once and show what the controller would do now (dry-run: nothing moves)')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .option('--no-dirty-rate', "do not measure candidates' dirty rates (faster; techniques assume an idle guest)")
    .addOption(logLevelOption())
    .action(
      action(async (options: { config: string; json?: boolean; dirtyRate: boolean; logLevel: string }) => {
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        try {
          const { state, plan, power } = await planNow(session, { measureDirtyRates: options.dirtyRate });
          out(`${options.json ? printableJson(planJson(plan, state, power), 2) : renderPlan(plan, state, power)}\n`);
          if (!state.hosts.some((h) => h.up) && !state.hosts.every((h) => h.power))
            throw new UserError(
              `no host could be read (${state.hosts.map((h) => h.name).join(', ')}: reasons above); the plan is empty because nothing was observed, not because the cluster is balanced`,
              1,
            );
        } finally {
          await session.close();
        }
      }),
    );
}
