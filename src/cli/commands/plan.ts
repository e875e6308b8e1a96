/** `virt-balancer plan`: one collection and planning pass; changes nothing. */
import type { Command } from 'commander';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { DecisionHistory, Journal } from '../../history/index.js';
import type { ClusterState } from '../../cluster/model.js';
import { loadPolicies, type Plan } from '../../policy/index.js';
import { planObserved, planOptionsFor } from '../../controller/pipeline.js';
import { markPowerStates } from '../../power/decide.js';
import type { PowerPlan } from '../../power/manager.js';
import { operatorCommand } from '../../power/command.js';
import { planPower, powerMode } from '../../power/plan-power.js';
import { PowerStates } from '../../power/states.js';
import { action, UserError } from '../errors.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { table } from '../format.js';
import { checkedStateDir } from '../state-dir.js';
import { out } from '../output.js';
import { printableJson } from '../../log/printable.js';

/**
 * Each host's reachability as a plan reports it: a script must not read "no moves" as "balanced"
 * when hosts were not read. `power` is set for a host a power action has down on purpose (standby...).
 */
export function hostStatus(state: Pick<ClusterState, 'hosts'>): { host: string; up: boolean; downReason?: string; power?: string }[] {
  return state.hosts.map((h) => ({
    host: h.name,
    up: h.up,
    ...(h.up ? {} : { downReason: h.downReason ?? 'unreachable' }),
    ...(h.power ? { power: h.power } : {}),
  }));
}

/** The plan as `plan --json` prints it; `state` adds each host's status, `power` the planned power actions. */
export function planJson(p: Plan, state?: Pick<ClusterState, 'hosts'>, power?: PowerPlan) {
  return {
    ...(state ? { hosts: hostStatus(state) } : {}),
    ...(power ? { power: { actions: power.actions, held: power.held } } : {}),
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
    notices: p.notices ?? [],
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

/** The plan as `plan` prints it; `state` adds the hosts that could not be read, first; `power` the planned power actions, last. */
export function renderPlan(p: Plan, state?: Pick<ClusterState, 'hosts'>, power?: PowerPlan): string {
  const out: string[] = [];
  const statuses = state ? hostStatus(state) : [];
  const standby = statuses.filter((h) => h.power && !h.up);
  if (standby.length > 0)
    out.push(
      'Standby (down on purpose by a power action; no target until woken, not an alarm):',
      table(
        ['host', 'state'],
        standby.map((h) => [h.host, h.downReason ?? h.power!]),
      ),
      '',
    );
  const down = statuses.filter((h) => !h.up && !h.power);
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
  // Rules that cannot be met come first: "No moves" must not read as "all is well".
  for (const n of p.notices ?? []) out.push(`NOTICE (${n.source}): ${n.message}`);
  if ((p.notices ?? []).length > 0) out.push('');
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
  if (power && (power.actions.length > 0 || power.held.length > 0)) {
    out.push('', 'Power actions:');
    if (power.actions.length > 0)
      out.push(
        table(
          ['host', 'action', 'would be', 'reason'],
          power.actions.map((a) => [a.host, a.action, a.mode === 'run' ? 'run' : 'recommended (policy.automation)', a.reason]),
        ),
      );
    for (const a of power.actions) if (a.mode === 'recommended' && a.command) out.push(`to ${a.action} ${a.host} by hand: ${a.command}`);
    for (const h of power.held) out.push(`held: ${h.host}: ${h.reason}`);
  }
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
        await checkedStateDir(config.stateDir, { create: false });
        const entries = await new Journal(config.stateDir).readForPlanning();
        const history = new DecisionHistory(entries);
        // Power states as the controller journaled them: standby hosts are shown so and never targets.
        const powerStates = new PowerStates(entries);
        const collected = await collectOnce(config, {
          logger,
          sampleIntervalMs: 2000,
          // Down on purpose: unreachable without a warning.
          expectedDown: new Set(powerStates.notAwake().keys()),
        });
        const { collector, close } = collected;
        const state = markPowerStates(collected.state, powerStates);
        try {
          // Measured now, whatever was measured before: a dry run shows the choice on fresh rates.
          const inputs = { config, policies, history };
          const { plan: result, state: planned } = await planObserved(state, inputs, options.dirtyRate ? { collector, staleAfterMs: 0 } : undefined);
          const decided = await planPower(planned, result, powerStates, config, planOptionsFor(inputs), Date.now());
          const power: PowerPlan = {
            actions: decided.decisions.map((d) => {
              const mode = powerMode(d, config.policy.automation, config.loop.dryRun);
              const host = config.hosts.find((h) => h.name === d.host);
              const command = mode === 'recommended' && host ? operatorCommand(d.action, host, config.power) : undefined;
              return { ...d, mode, ...(command ? { command } : {}) };
            }),
            held: decided.held,
            hosts: [...powerStates.notAwake()].map(([host, p]) => ({ host, state: p.state, sinceMs: p.sinceMs })),
          };
          out((options.json ? printableJson(planJson(result, state, power), 2) : renderPlan(result, state, power)) + '\n');
          if (!state.hosts.some((h) => h.up) && !state.hosts.every((h) => h.power)) {
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
