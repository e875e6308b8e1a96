/** `virt-balancer migrate VM --to HOST`: one live migration with the chosen (or given) technique. */
import { type Command, Option } from 'commander';
import { Session } from '../../controller/session.js';
import { checkTargetHost, type MigrateRequest, migrateHere } from '../../controller/workflows/migrate.js';
import type { VmObservation } from '../../cluster/model.js';
import { type Move, TECHNIQUES } from '../../policy/index.js';
import { action } from '../errors.js';
import { daemonProgress, describePlannedMove, describeResult, progressBar, resultJson } from '../format-migrate.js';
import { relayDaemonEvents } from '../daemon-events.js';
import type { MigrationResult } from '../../executor/index.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { err, out, outJson } from '../output.js';

export { techniqueStateProblem } from '../../controller/workflows/migrate.js';
export { resultJson } from '../format-migrate.js';

type MigrateOptions = { to: string; config: string; technique: MigrateRequest['technique']; json?: boolean; logLevel: string };

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
      action(async (vm: string, options: MigrateOptions) => {
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        const bar = options.json ? undefined : progressBar();
        try {
          checkTargetHost(session.config, options.to, options.config);
          await session.checkStateDir({ create: true });
          const request = { vm, to: options.to, technique: options.technique };
          // One executor per cluster: a running daemon moves it (its history and metrics see the move).
          const handed = await session.handToDaemon(
            { op: 'migrate', ...request },
            relayDaemonEvents(options.json === true, (e) => daemonProgress(e, options.json, bar)),
          );
          const onPlanned = (v: VmObservation, move: Move) => options.json || err(describePlannedMove(v, move));
          const result = (handed?.result as MigrationResult | undefined) ?? (await migrateHere(session, request, { onPlanned, onProgress: bar }));
          if (options.json) outJson(resultJson(result));
          else out(describeResult(result));
          if (result.outcome !== 'completed') process.exitCode = 1;
        } finally {
          bar?.(undefined);
          await session.close();
        }
      }),
    );
}
