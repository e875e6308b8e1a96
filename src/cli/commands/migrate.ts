/** `virt-balancer migrate VM --to HOST`: one live migration with the chosen (or given) technique. */
import { type Command, Option } from 'commander';
import { Session } from '../../controller/session.js';
import { carryOutMove, checkTargetHost, planMigration, type MigrateRequest } from '../../controller/workflows/migrate.js';
import { TECHNIQUES } from '../../policy/index.js';
import { action } from '../errors.js';
import { describePlannedMove, describeResult, progressBar, resultJson } from '../format-migrate.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { err, out, outJson } from '../output.js';

export { techniqueStateProblem } from '../../controller/workflows/migrate.js';
export { resultJson } from '../format-migrate.js';

export function register(program: Command): void {
  program
    .command('migrate <vm>')
    .description('live-migrate one VM to a host, with the technique the cost model picks (or the one given)')
    .requiredOption('--to <host>', 'target host (name from the config)')
    .requiredOption('-c, --config <file>', 'config file')
    .addOption(
      new Option('--technique <name>', 'technique (cold: a shut-off VM, its definition moved; auto picks it for a shut-off VM)')
        .choices(['auto', ...TECHNIQUES])
        .default('auto'),
    )
    .option('--json', 'print the outcome as JSON')
    .addOption(logLevelOption())
    .action(
      action(async (vm: string, options: { to: string; config: string; technique: MigrateRequest['technique']; json?: boolean; logLevel: string }) => {
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        try {
          checkTargetHost(session.config, options.to, options.config);
          await session.checkStateDir({ create: true });
          // Technique policies narrow an operator's move too, as they do the planner's.
          await session.policies();
          const state = await session.collect({ sampleIntervalMs: 200, withHistory: true });
          const ctx = await session.workflowContext();
          const planned = await planMigration(ctx, state, { vm, to: options.to, technique: options.technique });
          if (!options.json) err(describePlannedMove(planned.vm, planned.move));
          const bar = options.json ? undefined : progressBar();
          const result = await carryOutMove(ctx, planned.move, bar);
          bar?.(undefined);
          if (options.json) outJson(resultJson(result));
          else out(describeResult(result));
          if (result.outcome !== 'completed') process.exitCode = 1;
        } finally {
          await session.close();
        }
      }),
    );
}
