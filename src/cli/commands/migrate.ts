/** `virt-balancer migrate VM --to HOST`: one live migration with the chosen (or given) technique. */
import { type Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { planRequested } from '../../controller/pipeline.js';
import { Executor, type MigrationResult } from '../../executor/index.js';
import { DecisionHistory, Journal } from '../../history/index.js';
import { executorNotifications } from '../../controller/notify-events.js';
import { WebhookNotifier } from '../../notifications/webhooks.js';
import { closePolicies, loadPolicies, TECHNIQUES, type Technique } from '../../policy/index.js';
import { action, UserError } from '../errors.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { checkedStateDir } from '../state-dir.js';
import { out, err, outJson } from '../output.js';

export function resultJson(r: MigrationResult) {
  return {
    vm: r.vm,
    from: r.from,
    to: r.to,
    technique: r.technique,
    outcome: r.outcome,
    totalMs: r.totalMs,
    downtimeMs: r.downtimeMs ?? null,
    bytes: r.bytes ?? null,
    ...(r.diskBytes !== undefined ? { diskBytes: r.diskBytes } : {}),
    predicted: { totalSeconds: r.predicted.totalSeconds, downtimeMs: r.predicted.downtimeMs, bytes: r.predicted.bytes },
    ...(r.error ? { error: r.error } : {}),
    ...(r.incident ? { incident: r.incident } : {}),
  };
}

/**
 * An explicit --technique that cannot move a VM in its state: cold moves only a shut-off VM (its
 * definition, VIR_MIGRATE_PERSIST_DEST without VIR_MIGRATE_LIVE), and a shut-off VM has no memory
 * for a live technique to copy. Undefined when they fit (or with auto, which picks by state).
 */
export function techniqueStateProblem(vm: { name: string; state: string }, technique: string): string | undefined {
  if (technique === 'auto') return undefined;
  if (technique === 'cold' && vm.state !== 'shutoff')
    return `VM "${vm.name}" is ${vm.state}: --technique cold moves only a shut-off VM; shut it off first, or use a live technique (or auto)`;
  if (technique !== 'cold' && vm.state === 'shutoff')
    return `VM "${vm.name}" is shut off: it has no memory for ${technique} to copy, so it moves only cold; use --technique cold (or auto)`;
  return undefined;
}

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
      action(async (vmName: string, options: { to: string; config: string; technique: string; json?: boolean; logLevel: string }) => {
        const config = await loadConfig(options.config);
        const logger = commandLogger(options.logLevel);
        const notifier = new WebhookNotifier(config.notifications.webhooks, { logger });
        if (!config.hosts.some((h) => h.name === options.to))
          throw new UserError(`unknown host "${options.to}"; hosts in ${options.config}: ${config.hosts.map((h) => h.name).join(', ')}`);
        await checkedStateDir(config.stateDir, { create: true });
        const journal = new Journal(config.stateDir, { logger });
        const history = new DecisionHistory(await journal.readForPlanning());
        // Technique policies narrow an operator's move too, as they do the planner's.
        const policies = await loadPolicies(config.policy);
        const { state, collector, connections, close } = await collectOnce(config, { logger, sampleIntervalMs: 200 });
        try {
          const vm = state.vms.find((v) => v.name === vmName);
          if (!vm) {
            const down = state.hosts.filter((h) => !h.up).map((h) => h.name);
            throw new UserError(`VM "${vmName}" was not found on any reachable host${down.length ? ` (down: ${down.join(', ')})` : ''}`);
          }
          if (vm.host === options.to) throw new UserError(`VM "${vmName}" already runs on ${options.to}`);
          const target = state.hosts.find((h) => h.name === options.to)!;
          if (!target.up) throw new UserError(`target host ${options.to} is down: ${target.downReason}`);
          if (vm.jobRunning) throw new UserError(`VM "${vmName}" already has a job running on ${vm.host}`);
          const mismatch = techniqueStateProblem(vm, options.technique);
          if (mismatch) throw new UserError(mismatch);
          const running = vm.state === 'running';
          const measured = running ? await collector.measureDirtyRates([vm.uuid], config.policy.dirtyRateMeasureSeconds) : new Map<string, number>();
          const dirtyRateMiBps = measured.get(vm.uuid) ?? 0;
          const observed = { ...state, vms: state.vms.map((v) => (v.uuid === vm.uuid ? { ...v, dirtyRateMiBps } : v)) };
          const reason =
            options.technique === 'auto'
              ? `requested; technique chosen by the cost model (dirty rate ${dirtyRateMiBps} MiB/s)`
              : 'requested with an explicit technique';
          const planned = await planRequested(
            observed,
            { vmUuid: vm.uuid, to: options.to, reason, techniques: options.technique === 'auto' ? undefined : [options.technique as Technique] },
            { config, policies, history },
          );
          if ('refused' in planned)
            throw new UserError(
              `cannot move ${vm.name} ${vm.host} -> ${options.to}: ${planned.refused} (${planned.hardLimit ? 'a hard limit: choose another target' : 'pick another --technique or upgrade the host'})`,
            );
          const { move } = planned;
          if (!options.json) {
            err(
              `${vm.name}: ${vm.host} -> ${options.to} with ${move.technique} (predicted ${move.predicted.totalSeconds.toFixed(1)} s, ${move.predicted.downtimeMs.toFixed(0)} ms downtime, ${(move.predicted.bytes / 2 ** 20).toFixed(0)} MiB at ${move.inputs.bandwidthMiBps.toFixed(0)} MiB/s${move.inputs.bandwidthMeasured ? ' as measured on recent migrations' : ''}${move.predicted.converges ? '' : '; predicted NOT to converge'})\n`,
            );
          }
          // Its moves notify webhooks as the daemon's do.
          const executor = new Executor(config, { connections, logger, journal, ...executorNotifications(notifier) });
          const bar =
            !options.json && process.stderr.isTTY
              ? new SingleBar({
                  format: ' {bar} {percentage}% | {mibps} MiB/s | iteration {iteration} | {phase} | ETA {eta_s}s',
                  stream: process.stderr,
                  hideCursor: true,
                })
              : undefined;
          bar?.start(100, 0, { mibps: '0', iteration: 0, phase: 'precopy', eta_s: '?' });
          const result = await executor.runNow(move, {
            onProgress: (p) =>
              bar?.update(Math.round(p.percent), {
                mibps: p.mibps.toFixed(0),
                iteration: p.iteration,
                phase: p.phase,
                eta_s: p.etaSeconds === undefined ? '?' : p.etaSeconds.toFixed(0),
              }),
          });
          bar?.stop();
          if (options.json) outJson(resultJson(result));
          else {
            out(
              `${result.outcome}: ${result.vm} ${result.from} -> ${result.to} (${result.technique}) in ${(result.totalMs / 1000).toFixed(2)} s, downtime ${result.downtimeMs ?? '?'} ms, ${result.bytes !== undefined ? (result.bytes / 2 ** 20).toFixed(0) : '?'} MiB` +
                `${result.error ? `\n  ${result.error}` : ''}${result.incident ? `\n  INCIDENT: ${result.incident}` : ''}\n`,
            );
          }
          if (result.outcome !== 'completed') process.exitCode = 1;
        } finally {
          await close();
          await notifier.idle();
          await closePolicies(policies);
        }
      }),
    );
}
