/** `virt-balancer plan`: one collection and planning pass; changes nothing. */
import type { Command } from 'commander';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { Journal, LearnedFromMigrations, moveHistory } from '../../executor/index.js';
import { createLogger } from '../../log/logger.js';
import { loadPolicies, plan, type Plan } from '../../policy/index.js';
import { planMeasuringCandidates } from '../../controller/plan-measured.js';
import { action } from '../errors.js';
import { table } from '../format.js';

export function planJson(p: Plan) {
  return {
    moves: p.moves.map((m) => ({
      vm: m.vmName,
      from: m.from,
      to: m.to,
      technique: m.technique,
      predicted: { totalSeconds: m.predicted.totalSeconds, downtimeMs: m.predicted.downtimeMs, bytes: m.predicted.bytes },
      // What the prediction assumed: measured on recent migrations between the two hosts, or configured.
      assumed: { bandwidthMiBps: m.inputs.bandwidthMiBps, bandwidthMeasured: m.inputs.bandwidthMeasured ?? false, dirtyRateMiBps: m.inputs.dirtyRateMiBps },
      reason: m.reason,
    })),
    skipped: p.skipped.map((s) => ({ vm: s.vmName, reason: s.reason })),
    imbalanceBefore: p.imbalanceBefore,
    imbalanceAfter: p.imbalanceAfter,
    policyErrors: p.policyErrors,
  };
}

export function renderPlan(p: Plan): string {
  const out: string[] = [];
  out.push(`imbalance ${p.imbalanceBefore.toFixed(3)} -> ${p.imbalanceAfter.toFixed(3)} (std-dev of host CPU utilisation)`, '');
  if (p.moves.length === 0) out.push('No moves.');
  else
    out.push(
      table(
        ['vm', 'from', 'to', 'technique', 'total s', 'downtime ms', 'MiB', 'link MiB/s', 'reason'],
        p.moves.map((m) => [m.vmName, m.from, m.to, m.technique, m.predicted.totalSeconds.toFixed(1), m.predicted.downtimeMs.toFixed(0), (m.predicted.bytes / 2 ** 20).toFixed(0), `${m.inputs.bandwidthMiBps.toFixed(0)}${m.inputs.bandwidthMeasured ? ' (measured)' : ''}`, m.reason]),
      ),
    );
  if (p.skipped.length > 0) out.push('', 'Considered, not moved:', table(['vm', 'why'], p.skipped.map((s) => [s.vmName, s.reason])));
  if (p.policyErrors.length > 0) out.push('', 'Policy errors:', table(['policy', 'vm', 'host', 'problem'], p.policyErrors.map((e) => [e.policy, e.vm ?? '', e.host ?? '', e.message])));
  return out.join('\n');
}

export function register(program: Command): void {
  program
    .command('plan')
    .description('collect once and show what the controller would do now (dry-run: nothing moves)')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .option('--no-dirty-rate', "do not measure candidates' dirty rates (faster; techniques assume an idle guest)")
    .action(
      action(async (options: { config: string; json?: boolean; dirtyRate: boolean }) => {
        const config = await loadConfig(options.config);
        const logger = createLogger({ level: 'warn', destination: 2 });
        const policies = await loadPolicies(config.policy);
        // The journal's history (cooldowns, recent moves and failures), so the plan is what run would do.
        const entries = await new Journal(config.stateDir).read();
        const { state, collector, close } = await collectOnce(config, { logger, sampleIntervalMs: 2000, history: moveHistory(entries) });
        try {
          const planOptions = { policies, config: config.policy, bandwidthLimitMiBps: config.migration.bandwidthMiBps, ...new LearnedFromMigrations(entries).planOptions() };
          // Measured now, whatever was measured before: a dry run shows the choice on fresh rates.
          const result = options.dirtyRate
            ? (await planMeasuringCandidates(state, collector, planOptions, { measureSeconds: config.policy.dirtyRateMeasureSeconds, staleAfterMs: 0 })).plan
            : await plan(state, planOptions);
          process.stdout.write((options.json ? JSON.stringify(planJson(result), null, 2) : renderPlan(result)) + '\n');
        } finally {
          await close();
        }
      }),
    );
}
