/**
 * `virt-balancer approve ID | --all`: carry out recommended moves after checking each against the
 * state observed now (a stale one is refused, saying what changed). Journaled: who, when, outcome.
 */
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { whatChanged } from '../../executor/approval.js';
import { Executor, Journal } from '../../executor/index.js';
import { RecommendationStore, type RecommendationView } from '../../executor/recommendations.js';
import { executorNotifications } from '../../controller/notify-events.js';
import { WebhookNotifier } from '../../notifications/webhooks.js';
import type { ClusterState } from '../../cluster/model.js';
import type { MigrationConfig } from '../../config/migration-schema.js';
import { admit, closePolicies, loadPolicies, moveIdentity, type Move } from '../../policy/index.js';
import { action, UserError } from '../errors.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { checkedStateDir } from '../state-dir.js';
import { out, err, outJson } from '../output.js';

/** Who approves, for the journal: the user behind sudo when there is one. */
export function approverName(): string {
  if (process.env.SUDO_USER) return process.env.SUDO_USER;
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * Wait until admission (policy/scheduling.ts, the budgets `run` applies) lets `move` start beside
 * the jobs the hosts show, collecting again every poll: over a budget it waits, never fails.
 * Returns the state it was admitted on, or why it cannot start (a host down, a job of the VM).
 */
export async function whenAdmitted(
  move: Move,
  first: ClusterState,
  collect: () => Promise<ClusterState>,
  config: MigrationConfig,
  onWait: (reason: string) => void,
): Promise<{ state: ClusterState; refusal?: string }> {
  let state = first;
  let said = '';
  for (;;) {
    const { admitted, rejected } = admit([move], [], state, config);
    if (admitted.length > 0) return { state };
    if (!rejected[0].waits) return { state, refusal: rejected[0].reason };
    if (rejected[0].reason !== said) onWait(rejected[0].reason);
    said = rejected[0].reason;
    await new Promise((r) => setTimeout(r, config.pollIntervalMs));
    state = await collect();
  }
}

interface ApprovalReport {
  id: string;
  vm: string;
  from: string;
  to: string;
  /** not-checked: a host did not answer, the recommendation stays waiting. */
  decision: 'executed' | 'refused' | 'not-checked';
  outcome?: string;
  detail?: string;
}

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
      action(async (id: string | undefined, options: { config: string; all?: boolean; by?: string; json?: boolean; logLevel: string }) => {
        if (!id && !options.all) throw new UserError('say which recommendation to approve (an id from `virt-balancer recommendations`) or --all');
        if (id && options.all) throw new UserError('give either an id or --all, not both');
        const config = await loadConfig(options.config);
        const logger = commandLogger(options.logLevel);
        const by = options.by ?? approverName();
        await checkedStateDir(config.stateDir, { create: true });
        const store = new RecommendationStore(config.stateDir);
        const journal = new Journal(config.stateDir, { logger });
        const all = await store.list();
        let chosen: RecommendationView[];
        const reports: ApprovalReport[] = [];
        if (options.all) chosen = all.filter((r) => r.status === 'waiting');
        else {
          const found = all.find((r) => r.id === id);
          if (!found)
            throw new UserError(`no recommendation "${id}" in ${store.file}; \`virt-balancer recommendations -c ${options.config}\` lists the waiting ones`);
          if (found.status !== 'waiting') {
            const detail =
              found.status === 'expired'
                ? `it expired at ${new Date(found.expiresAtMs).toISOString()} (policy.recommendationExpirySeconds ${config.policy.recommendationExpirySeconds}); the controller recommends the move again if it is still wanted`
                : `it is already ${found.status}${found.resolution?.detail ? ` (${found.resolution.detail})` : ''}`;
            await journal.append({
              type: 'approval',
              atMs: Date.now(),
              id: found.id,
              by,
              ...moveIdentity(found.move),
              decision: 'refused',
              detail,
            });
            await journal.close();
            throw new UserError(`recommendation ${found.id} (${found.move.vmName} ${found.move.from} -> ${found.move.to}) not executed: ${detail}`);
          }
          chosen = [found];
        }
        if (chosen.length === 0) {
          out(options.json ? '[]\n' : `No recommendations waiting in ${store.file}.\n`);
          await journal.close();
          return;
        }
        const policies = await loadPolicies(config.policy);
        const { state: first, collector, connections, close } = await collectOnce(config, { logger, sampleIntervalMs: 200 });
        let notifierIdle = async () => {};
        try {
          const notifier = new WebhookNotifier(config.notifications.webhooks, { logger });
          notifierIdle = () => notifier.idle();
          // Approved moves notify as the controller's own do: started, and how each ended.
          const executor = new Executor(config, { connections, logger, journal, ...executorNotifications(notifier) });
          // One decision: resolved in the store, journaled (who, when, what), and reported.
          const decide = async (r: (typeof chosen)[number], decision: 'refused' | 'executed', detail: string, outcome?: string) => {
            const move = r.move;
            await store.resolve(r.id, { status: decision, atMs: Date.now(), by, detail });
            await journal.append({
              type: 'approval',
              atMs: Date.now(),
              id: r.id,
              by,
              ...moveIdentity(move),
              decision,
              outcome,
              detail,
            });
            reports.push({ id: r.id, vm: move.vmName, from: move.from, to: move.to, decision, outcome, detail });
          };
          let state = first;
          for (const [index, r] of chosen.entries()) {
            // Each approval is checked against what the hosts show now: the moves before it changed them.
            if (index > 0) state = await collector.collect();
            const move = r.move;
            // A host that does not answer says nothing about the move: it stays waiting, to retry.
            const unreachable = [move.from, move.to].map((name) => state.hosts.find((h) => h.name === name)).find((h) => !h?.up);
            if (unreachable !== undefined || !state.hosts.some((h) => h.name === move.from)) {
              const name = unreachable?.name ?? move.from;
              const why = `${name} did not answer${unreachable?.downReason ? ` (${unreachable.downReason})` : ''}; ${r.id} stays waiting: approve it again once ${name} answers`;
              reports.push({ id: r.id, vm: move.vmName, from: move.from, to: move.to, decision: 'not-checked', detail: why });
              if (!options.json) out(`${r.id}: not checked, ${why}\n`);
              process.exitCode = 1;
              continue;
            }
            const changes = await whatChanged(r, state, { policies, config: config.policy });
            if (changes.length > 0) {
              const detail = `stale: ${changes.join('; ')}`;
              await decide(r, 'refused', detail);
              if (!options.json) out(`${r.id}: refused, ${move.vmName} ${move.from} -> ${move.to} is ${detail}\n`);
              process.exitCode = 1;
              continue;
            }
            // Within the budgets run applies: migrations running now (the controller's, anyone's) hold their slots.
            const slot = await whenAdmitted(
              move,
              state,
              () => collector.collect(),
              config.migration,
              (reason) => {
                if (!options.json) err(`${r.id}: waiting for a slot: ${reason}\n`);
              },
            );
            state = slot.state;
            if (slot.refusal !== undefined) {
              const why = `${slot.refusal}; ${r.id} stays waiting: approve it again once it can start`;
              reports.push({ id: r.id, vm: move.vmName, from: move.from, to: move.to, decision: 'not-checked', detail: why });
              if (!options.json) out(`${r.id}: not started, ${why}\n`);
              process.exitCode = 1;
              continue;
            }
            if (!options.json) err(`${r.id}: ${move.vmName} ${move.from} -> ${move.to} with ${move.technique} (approved by ${by})\n`);
            const result = await executor.runNow(move);
            const detail = result.error
              ? `${result.outcome}: ${result.error}`
              : `${result.outcome} in ${(result.totalMs / 1000).toFixed(2)} s, downtime ${result.downtimeMs ?? '?'} ms`;
            await decide(r, 'executed', detail, result.outcome);
            if (!options.json) out(`${r.id}: ${detail}${result.incident ? `\n  INCIDENT: ${result.incident}` : ''}\n`);
            if (result.outcome !== 'completed') process.exitCode = 1;
          }
          if (options.json) outJson(reports);
        } finally {
          await close();
          await closePolicies(policies);
          await notifierIdle();
          await journal.close();
        }
      }),
    );
}
