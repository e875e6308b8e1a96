/**
 * `virt-balancer approve ID | --all`: carry out recommended moves after checking each against the
 * state observed now (a stale one is refused, saying what changed). Journaled: who, when, outcome.
 */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { type ApprovalReport, approveRecommendations, chooseRecommendations, type ApproveRequest } from '../../controller/workflows/approve.js';
import { relayDaemonEvents } from '../daemon-events.js';
import { approverName } from '../approver.js';
import { action, UserError } from '../errors.js';
import { approvalHooks, approvalJson, describeApproval } from '../format-approve.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { out, outJson } from '../output.js';

export { approverName } from '../approver.js';
export { whenAdmitted } from '../../controller/workflows/approve.js';

type ApproveOptions = { config: string; all?: boolean; by?: string; json?: boolean; logLevel: string };

export function register(program: Command): void {
  program
    .command('approve [id]')
    .description('carry out a recommended move (or --all of them), each checked against the current state first; a stale one is refused with what changed')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--all', 'approve every waiting recommendation, oldest first')
    .option('--by <name>', 'who approves, for the journal (default: the user running it, SUDO_USER under sudo)')
    .option('--json', 'print the results as JSON')
    .addOption(logLevelOption())
    .action(
      action(async (id: string | undefined, options: ApproveOptions) => {
        if (!id && !options.all) throw new UserError('say which recommendation to approve (an id from `virt-balancer recommendations`) or --all');
        if (id && options.all) throw new UserError('give either an id or --all, not both');
        const by = options.by ?? approverName();
        const request: ApproveRequest = id ? { id, by } : { all: true, by };
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        try {
          await session.checkStateDir({ create: true });
          const text = !options.json;
          const shown = (e: { kind: string; data?: unknown }) => e.kind === 'approval' && (text && out(describeApproval(e.data as ApprovalReport)), true);
          // One executor per cluster: a running daemon judges and runs them (its history and metrics see every move).
          const handed = await session.handToDaemon({ op: 'approve', ...request, configFile: options.config }, relayDaemonEvents(!text, shown));
          let reports = handed?.result as ApprovalReport[] | undefined;
          if (!reports) {
            await session.lock(id ? `approve ${id}` : 'approve --all');
            const store = session.recommendations();
            const chosen = await chooseRecommendations(store, session.journal(), request, session.config, options.config);
            if (chosen.length === 0) return out(options.json ? '[]\n' : `No recommendations waiting in ${store.file}.\n`);
            await session.policies();
            const first = await session.collect({ sampleIntervalMs: 200, withHistory: true });
            reports = await approveRecommendations(await session.workflowContext(), store, chosen, by, first, approvalHooks(text, by));
          } else if (reports.length === 0) return out(options.json ? '[]\n' : 'No recommendations waiting.\n');
          if (options.json) outJson(approvalJson(reports));
          if (reports.some((r) => r.code !== 'executed' || r.outcome !== 'completed')) process.exitCode = 1;
        } finally {
          await session.close();
        }
      }),
    );
}
