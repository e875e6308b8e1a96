/** `virt-balancer migrate VM --to HOST`: one live migration with the chosen (or given) technique. */
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { collectOnce } from '../../cluster/collector.js';
import { loadConfig } from '../../config/index.js';
import { Executor, Journal, LearnedFromMigrations, type MigrationResult } from '../../executor/index.js';
import { createLogger } from '../../log/logger.js';
import { executorNotifications } from '../../controller/notify-events.js';
import { WebhookNotifier } from '../../notifications/webhooks.js';
import { chooseTechnique, moveInputs, TECHNIQUES, type Move, type Technique } from '../../policy/index.js';
import { techniquesFor } from '../../policy/capabilities.js';
import { tunablesFromMigrationConfig } from '../../policy/chooser.js';
import { action, UserError } from '../errors.js';

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

export function register(program: Command): void {
  program
    .command('migrate <vm>')
    .description('live-migrate one VM to a host, with the technique the cost model picks (or the one given)')
    .requiredOption('--to <host>', 'target host (name from the config)')
    .requiredOption('-c, --config <file>', 'config file')
    .addOption(new Option('--technique <name>', 'technique').choices(['auto', ...TECHNIQUES.filter((t) => t !== 'cold')]).default('auto'))
    .option('--json', 'print the outcome as JSON')
    .option('--log-level <level>', 'log level', 'warn')
    .action(
      action(async (vmName: string, options: { to: string; config: string; technique: string; json?: boolean; logLevel: string }) => {
        const config = await loadConfig(options.config);
        const logger = createLogger({ level: options.logLevel as 'warn', destination: 2 });
        const notifier = new WebhookNotifier(config.notifications.webhooks, { logger });
        if (!config.hosts.some((h) => h.name === options.to)) throw new UserError(`unknown host "${options.to}"; hosts in ${options.config}: ${config.hosts.map((h) => h.name).join(', ')}`);
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
          const running = vm.state === 'running';
          const measured = running ? await collector.measureDirtyRates([vm.uuid], config.policy.dirtyRateMeasureSeconds) : new Map<string, number>();
          const dirtyRateMiBps = measured.get(vm.uuid) ?? 0;
          const journal = new Journal(config.stateDir, { logger });
          const learned = new LearnedFromMigrations(await journal.read());
          const { memoryBytes, bandwidthMiBps, bandwidthMeasured, localDiskBytes } = moveInputs({ ...vm, dirtyRateMiBps }, config.policy, config.migration.bandwidthMiBps, learned.links.estimateMiBps(vm.host, options.to));
          const wanted = options.technique === 'auto' ? config.policy.allowedTechniques.filter((t) => (running ? t !== 'cold' : t === 'cold')) : [options.technique as Technique];
          const source = state.hosts.find((h) => h.name === vm.host)!;
          const { usable: allowed, unusable } = techniquesFor(wanted, source, target);
          if (allowed.length === 0) throw new UserError(`cannot move ${vm.name} ${vm.host} -> ${options.to}: ${unusable.map((u) => u.reason).join('; ')} (pick another --technique or upgrade the host)`);
          const calibration = (t: Technique) => learned.calibration.factors(vm.host, options.to, t);
          const input = { memoryBytes, dirtyRateMiBps, bandwidthMiBps, downtimeBudgetMs: config.policy.downtimeBudgetMs, allowed, running, localDiskBytes, calibration, tunables: tunablesFromMigrationConfig(config.migration) };
          const choice = chooseTechnique(input);
          const move: Move = {
            vmName: vm.name,
            vmUuid: vm.uuid,
            from: vm.host,
            to: options.to,
            technique: choice.technique,
            copyStorage: !vm.disksShared,
            predicted: choice.predicted,
            reason: options.technique === 'auto' ? `requested; technique chosen by the cost model (dirty rate ${dirtyRateMiBps} MiB/s)` : 'requested with an explicit technique',
            gain: 0,
            inputs: { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured, downtimeBudgetMs: config.policy.downtimeBudgetMs },
          };
          if (!options.json) {
            process.stderr.write(`${vm.name}: ${vm.host} -> ${options.to} with ${move.technique} (predicted ${choice.predicted.totalSeconds.toFixed(1)} s, ${choice.predicted.downtimeMs.toFixed(0)} ms downtime, ${(choice.predicted.bytes / 2 ** 20).toFixed(0)} MiB at ${bandwidthMiBps.toFixed(0)} MiB/s${bandwidthMeasured ? ' as measured on recent migrations' : ''}${choice.predicted.converges ? '' : '; predicted NOT to converge'})\n`);
          }
          // Its moves notify webhooks as the daemon's do.
          const executor = new Executor(config, { connections, logger, journal, ...executorNotifications(notifier) });
          const bar = !options.json && process.stderr.isTTY ? new SingleBar({ format: ' {bar} {percentage}% | {mibps} MiB/s | iteration {iteration} | {phase} | ETA {eta_s}s', stream: process.stderr, hideCursor: true }) : undefined;
          bar?.start(100, 0, { mibps: '0', iteration: 0, phase: 'precopy', eta_s: '?' });
          const result = await executor.runNow(move, {
            onProgress: (p) => bar?.update(Math.round(p.percent), { mibps: p.mibps.toFixed(0), iteration: p.iteration, phase: p.phase, eta_s: p.etaSeconds === undefined ? '?' : p.etaSeconds.toFixed(0) }),
          });
          bar?.stop();
          if (options.json) process.stdout.write(JSON.stringify(resultJson(result), null, 2) + '\n');
          else {
            process.stdout.write(
              `${result.outcome}: ${result.vm} ${result.from} -> ${result.to} (${result.technique}) in ${(result.totalMs / 1000).toFixed(2)} s, downtime ${result.downtimeMs ?? '?'} ms, ${result.bytes !== undefined ? (result.bytes / 2 ** 20).toFixed(0) : '?'} MiB` +
                `${result.error ? `\n  ${result.error}` : ''}${result.incident ? `\n  INCIDENT: ${result.incident}` : ''}\n`,
            );
          }
          if (result.outcome !== 'completed') process.exitCode = 1;
        } finally {
          await close();
          await notifier.idle();
        }
      }),
    );
}
