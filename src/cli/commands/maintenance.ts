/** `virt-balancer maintenance`: rolling maintenance, host by host: drain, hook, wait healthy, return VMs (docs/operator-workflow.md). */
import type { Command } from 'commander';
import { commandArgv } from '../../config/power-schema.js';
import { Session } from '../../controller/session.js';
import { checkDrainPolicies } from '../../controller/workflows/drain.js';
import { maintenanceHere } from '../../controller/workflows/maintenance-here.js';
import { stopHooksWhenInterrupted } from '../../controller/workflows/maintenance-steps.js';
import { action, UserError } from '../errors.js';
import { describeRollEntry, renderMaintenanceDryRun, renderRollResult } from '../format-maintenance.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { err, out, outJson } from '../output.js';

interface Options {
  config: string;
  hosts?: string;
  hook?: string;
  return?: boolean;
  resume?: boolean;
  fresh?: boolean;
  dryRun?: boolean;
  json?: boolean;
  logLevel: string;
}

/** --hook: a JSON array of the program and its arguments, checked as maintenance.hook is. @throws UserError naming the fix. */
function parseHook(text: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UserError(`--hook must be a JSON array of the program and its arguments, e.g. '["/usr/local/bin/update-host", "{name}"]'`, 2);
  }
  const parsed = commandArgv('["/usr/local/bin/update-host", "{name}"]').safeParse(value);
  if (!parsed.success) throw new UserError(`--hook: ${parsed.error.issues[0].message}`, 2);
  return parsed.data;
}

export function register(program: Command): void {
  program
    .command('maintenance')
    .description(
      'rolling maintenance: for each host in turn drain it, run the hook, wait until it is healthy, optionally return its VMs; resumes an unfinished roll',
    )
    .requiredOption('-c, --config <file>', 'config file')
    .option('--hosts <a,b,c>', 'hosts to roll, in this order (default: all, in config order)')
    .option('--hook <json>', 'the hook as a JSON array (overrides maintenance.hook), e.g. \'["/usr/local/bin/update-host", "{name}"]\'')
    .option('--return', "move each host's VMs back once it is healthy (maintenance.returnVms)")
    .option('--resume', 'continue the unfinished roll in the journal (re-running the same command does too)')
    .option('--fresh', 'abandon an unfinished roll and start a new one')
    .option('--dry-run', 'show the whole sequence with predicted durations; move nothing')
    .option('--json', 'print JSON')
    .addOption(logLevelOption())
    .action(
      action(async (options: Options) => {
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        try {
          checkDrainPolicies(await session.policies());
          const request = {
            hosts: options.hosts?.split(',').map((h) => h.trim()),
            returnVms: options.return === true || session.config.maintenance.returnVms,
            hook: options.hook !== undefined ? parseHook(options.hook) : undefined,
            configHook: session.config.maintenance.hook,
            resume: options.resume,
            fresh: options.fresh,
            dryRun: options.dryRun,
          };
          if (!request.dryRun) stopHooksWhenInterrupted((line) => err(line));
          const done = await maintenanceHere(session, request, (entry, position) => (options.json ? undefined : out(describeRollEntry(entry, position))));
          const ok = 'dryRun' in done ? done.dryRun.stop === undefined : done.result.ok; // a dry run that would stop exits 1 too
          if (options.json) outJson('dryRun' in done ? done.dryRun : done.result);
          else if ('dryRun' in done) out(renderMaintenanceDryRun(done.dryRun));
          else (ok ? out : err)(renderRollResult(done.result));
          if (!ok) process.exitCode = 1;
        } finally {
          await session.close();
        }
      }),
    );
}
