/** `virt-balancer drain HOST`: evacuate a host with the planner's placement and techniques. */
import type { Command } from 'commander';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { Executor } from '../../executor/index.js';
import { DecisionHistory, Journal } from '../../history/index.js';
import { executorNotifications } from '../../controller/notify-events.js';
import { WebhookNotifier } from '../../notifications/webhooks.js';
import { loadPolicies } from '../../policy/index.js';
import { planObserved } from '../../controller/pipeline.js';
import { action, UserError } from '../errors.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { table } from '../format.js';
import { renderPlan } from './plan.js';
import { checkedStateDir } from '../state-dir.js';
import { out, err, outJson } from '../output.js';
import { printableJson } from '../../log/printable.js';

export function register(program: Command): void {
  program
    .command('drain <host>')
    .description('move every VM off a host (as if it were in maintenance), within the migration limits')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--dry-run', 'show the plan only')
    .option('--json', 'print JSON')
    .addOption(logLevelOption())
    .action(
      action(async (hostName: string, options: { config: string; dryRun?: boolean; json?: boolean; logLevel: string }) => {
        const config = await loadConfig(options.config);
        if (!config.hosts.some((h) => h.name === hostName))
          throw new UserError(`unknown host "${hostName}"; hosts: ${config.hosts.map((h) => h.name).join(', ')}`);
        const logger = commandLogger(options.logLevel);
        const notifier = new WebhookNotifier(config.notifications.webhooks, { logger });
        const policies = await loadPolicies(config.policy);
        if (!policies.some((p) => p.policy.name === 'maintenance'))
          throw new UserError('the maintenance policy is disabled in policy.policies; drain needs it');
        await checkedStateDir(config.stateDir, { create: true });
        const journal = new Journal(config.stateDir, { logger });
        const history = new DecisionHistory(await journal.readForPlanning());
        const { state, collector, connections, close } = await collectOnce(config, { logger, sampleIntervalMs: 1000 });
        try {
          const host = state.hosts.find((h) => h.name === hostName)!;
          if (!host.up) throw new UserError(`host ${hostName} is down (${host.downReason}); its VMs cannot be migrated live`);
          const drained = { ...state, hosts: state.hosts.map((h) => (h.name === hostName ? { ...h, maintenance: true } : h)) };
          const { plan: result } = await planObserved(drained, { config, policies, history, maxMoves: 10_000 }, { collector, staleAfterMs: 0 });
          if (options.dryRun) {
            out((options.json ? printableJson(result, 2) : renderPlan(result)) + '\n');
            return;
          }
          // Its moves notify webhooks as the daemon's do.
          const executor = new Executor(config, { connections, logger, journal, ...executorNotifications(notifier) });
          // Within the budgets (policy/scheduling.ts): what is over one waits in the executor's queue
          // and starts the moment a running migration frees its slot — no waves.
          const { rejected } = executor.submit(result.moves, drained);
          for (const r of rejected.filter((x) => !x.waits)) err(`not moved: ${r.move.vmName}: ${r.reason}\n`);
          await executor.whenIdle();
          for (const r of executor.dropped()) err(`not moved: ${r.move.vmName}: ${r.reason}\n`);
          for (const m of executor.queued()) err(`not moved: ${m.vmName}: still waiting for a slot (a migration this run did not start holds it)\n`);
          const results = executor.finished();
          if (options.json) outJson({ host: hostName, results, skipped: result.skipped, notices: result.notices ?? [] });
          else {
            out(
              table(
                ['vm', 'to', 'technique', 'outcome', 'seconds', 'downtime ms'],
                results.map((r) => [r.vm, r.to, r.technique, r.outcome, (r.totalMs / 1000).toFixed(1), String(r.downtimeMs ?? '')]),
              ) + '\n',
            );
            for (const s of result.skipped) out(`not moved: ${s.vmName}: ${s.reason}\n`);
            // A rule the drain could not keep (an affinity group no single host holds, moved as a best effort).
            for (const n of result.notices ?? []) out(`NOTICE (${n.source}): ${n.message}\n`);
          }
          if (results.some((r) => r.outcome !== 'completed') || result.skipped.length > 0 || results.length < result.moves.length) process.exitCode = 1;
        } finally {
          await close();
          await notifier.idle();
        }
      }),
    );
}
