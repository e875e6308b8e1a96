/** `virt-balancer plan`: one collection and planning pass; changes nothing. */
import type { Command } from 'commander';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { DecisionHistory, Journal } from '../../history/index.js';
import type { ClusterState } from '../../cluster/model.js';
import { loadPolicies, type Plan } from '../../policy/index.js';
import { planObserved } from '../../controller/pipeline.js';
import { action, UserError } from '../errors.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { table } from '../format.js';

/** Each host's reachability as a plan reports it: a script must not read "no moves" as "balanced" when hosts were not read. */
export function hostStatus(state: Pick<ClusterState, 'hosts'>): { host: string; up: boolean; downReason?: string }[] {
  return state.hosts.map((h) => (h.up ? { host: h.name, up: true } : { host: h.name, up: false, downReason: h.downReason ?? 'unreachable' }));
}

/** The plan as `plan --json` prints it; `state` adds each host's status. */
export function planJson(p: Plan, state?: Pick<ClusterState, 'hosts'>) {
  return {
    ...(state ? { hosts: hostStatus(state) } : {}),
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
    // Not empty: the plan is incomplete (what those calls would have nominated or allowed is missing).
    complete: (p.timeouts ?? []).length === 0,
    timeouts: p.timeouts ?? [],
  };
}

/** The warning a plan with policy timeouts starts with: "no moves" must not read as "nothing to do". */
export function timeoutWarning(p: Plan): string | undefined {
  const timeouts = p.timeouts ?? [];
  if (timeouts.length === 0) return undefined;
  const calls = [...new Set(timeouts.map((t) => `${t.policy} ${t.point}`))];
  return `INCOMPLETE PLAN: ${timeouts.length} policy call${timeouts.length > 1 ? 's' : ''} ran past policy.policyTimeoutMs (${timeouts[0].timeoutMs} ms): ${calls.join(', ')}. What they would have nominated or allowed is missing from the moves below; make the policy faster or raise policy.policyTimeoutMs.`;
}

/** The plan as `plan` prints it; `state` adds the hosts that could not be read, first. */
export function renderPlan(p: Plan, state?: Pick<ClusterState, 'hosts'>): string {
  const out: string[] = [];
  const down = state ? hostStatus(state).filter((h) => !h.up) : [];
  if (down.length > 0)
    out.push(
      `Not read (their VMs are not planned for, and they are no target):`,
      table(
        ['host', 'why'],
        down.map((h) => [h.host, h.downReason ?? '']),
      ),
      '',
    );
  const warning = timeoutWarning(p);
  if (warning) out.push(warning, '');
  out.push(`imbalance ${p.imbalanceBefore.toFixed(3)} -> ${p.imbalanceAfter.toFixed(3)} (std-dev of host CPU utilisation)`, '');
  if (p.moves.length === 0) out.push('No moves.');
  else
    out.push(
      table(
        ['vm', 'from', 'to', 'technique', 'total s', 'downtime ms', 'MiB', 'link MiB/s', 'reason'],
        p.moves.map((m) => [
          m.vmName,
          m.from,
          m.to,
          m.technique,
          m.predicted.totalSeconds.toFixed(1),
          m.predicted.downtimeMs.toFixed(0),
          (m.predicted.bytes / 2 ** 20).toFixed(0),
          `${m.inputs.bandwidthMiBps.toFixed(0)}${m.inputs.bandwidthMeasured ? ' (measured)' : ''}`,
          m.reason,
        ]),
      ),
    );
  if (p.skipped.length > 0)
    out.push(
      '',
      'Considered, not moved:',
      table(
        ['vm', 'why'],
        p.skipped.map((s) => [s.vmName, s.reason]),
      ),
    );
  if (p.policyErrors.length > 0)
    out.push(
      '',
      'Policy errors:',
      table(
        ['policy', 'vm', 'host', 'problem'],
        p.policyErrors.map((e) => [e.policy, e.vm ?? '', e.host ?? '', e.message]),
      ),
    );
  return out.join('\n');
}

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
        const config = await loadConfig(options.config);
        const logger = commandLogger(options.logLevel);
        const policies = await loadPolicies(config.policy);
        // The journal's history (cooldowns, recent moves and failures), so the plan is what run would do.
        const history = new DecisionHistory(await new Journal(config.stateDir).read());
        const { state, collector, close } = await collectOnce(config, { logger, sampleIntervalMs: 2000, history: history.forState() });
        try {
          // Measured now, whatever was measured before: a dry run shows the choice on fresh rates.
          const { plan: result } = await planObserved(state, { config, policies, history }, options.dirtyRate ? { collector, staleAfterMs: 0 } : undefined);
          process.stdout.write((options.json ? JSON.stringify(planJson(result, state), null, 2) : renderPlan(result, state)) + '\n');
          if (!state.hosts.some((h) => h.up)) {
            throw new UserError(
              `no host could be read (${state.hosts.map((h) => h.name).join(', ')}: reasons above); the plan is empty because nothing was observed, not because the cluster is balanced`,
              1,
            );
          }
        } finally {
          await close();
        }
      }),
    );
}
