/** `virt-balancer drain HOST`: evacuate a host with the planner's placement and techniques (by the daemon when one runs). */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { checkDrainHost, checkDrainPolicies, planDrain } from '../../controller/workflows/drain.js';
import { drainNow, type DrainRoundsOutcome } from '../../controller/workflows/drain-rounds.js';
import { printableJson } from '../../log/printable.js';
import { relayDaemonEvents } from '../daemon-events.js';
import { action } from '../errors.js';
import { renderDrain } from '../format-migrate.js';
import { renderPlan } from '../format-plan.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { err, out, outJson } from '../output.js';

export function register(program: Command): void {
  program
    .command('drain <host>')
    .description('move every VM off a host (as if it were in maintenance), within the migration limits; a running daemon does it')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--dry-run', 'show the plan only')
    .option(
      '--json',
      'print JSON: the plan with --dry-run; else {host, ok, rounds, stopped (cannot-place | failed, when VMs stayed), results, notMoved, skipped, notices}',
    )
    .addOption(logLevelOption())
    .action(
      action(async (host: string, options: { config: string; dryRun?: boolean; json?: boolean; logLevel: string }) => {
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        try {
          checkDrainHost(session.config, host);
          checkDrainPolicies(await session.policies());
          await session.checkStateDir({ create: true });
          // One executor per cluster: a running daemon drains (its history and metrics see every move).
          const handed = options.dryRun ? undefined : await session.handToDaemon({ op: 'drain', host }, relayDaemonEvents(options.json === true));
          let outcome = handed?.result as DrainRoundsOutcome | undefined;
          if (!outcome) {
            if (!options.dryRun) await session.lock(`drain ${host}`);
            const state = await session.collect({ sampleIntervalMs: 1000, withHistory: true });
            const ctx = await session.workflowContext();
            if (options.dryRun) {
              const { plan } = await planDrain(ctx, state, host);
              return out(`${options.json ? printableJson(plan, 2) : renderPlan(plan)}\n`);
            }
            // In rounds: a VM that waits for a make-room move follows in the next one (drain-rounds.ts).
            outcome = await drainNow(ctx, state, host);
          }
          for (const n of outcome.notMoved) err(`not moved: ${n.vm}: ${n.reason}\n`);
          const { plan, results } = outcome;
          // ok/rounds/stopped/notMoved as the text output and the exit code tell them: a script reads why VMs stayed.
          if (options.json)
            outJson({
              host,
              ok: outcome.ok,
              rounds: outcome.rounds,
              ...(outcome.stopped ? { stopped: outcome.stopped } : {}),
              results,
              notMoved: outcome.notMoved,
              skipped: plan.skipped,
              notices: plan.notices ?? [],
              ...(handed ? { servedBy: 'daemon' } : {}),
            });
          else out(renderDrain(outcome));
          if (!outcome.ok) process.exitCode = 1;
        } finally {
          await session.close();
        }
      }),
    );
}
