/**
 * `npm run demo` (`tsx lab/demo.ts`, as root, in a clone): bring up lab hosts on this machine with
 * every VM on one host, run the real controller against them, show its decisions and live
 * migrations, and end with a summary (moves, predicted vs real figures, guest memory checked after
 * each move, host load before and after). It is part of the lab, not of the installed controller:
 * the container image and the system install ship `dist/src` only. It installs only what the lab
 * itself needs (libvirt, QEMU and the guest image's tools, lab/install.ts), and uses its own lab
 * directory and addresses (VB_LAB_DIR, VB_LAB_ADDRESS_PREFIX; default /var/tmp/virt-balancer-demo,
 * 127.0.3.x) so it never meets the tests' lab.
 */
import { Command, InvalidArgumentError } from 'commander';
import { hostMemoryRatio as memoryRatio, memoryImbalance } from '../src/cluster/imbalance.js';
import { action } from '../src/cli/errors.js';
import { formatPercent, table } from '../src/cli/format.js';
import { commandLogger, logLevelOption } from '../src/cli/logging.js';
import { out } from '../src/cli/output.js';
import { loadConfig } from '../src/config/index.js';
import { Controller, type TickReport } from '../src/controller/controller.js';
import type { MigrationResult } from '../src/executor/index.js';
import { createMetrics } from '../src/metrics/catalog.js';
import { startMetricsServer, tickHealth } from '../src/metrics/server.js';
import '../policies/index.js';
import { DEMO_QUIET_TICKS, demoConfig } from './demo-config.js';
import { Lab } from './lab.js';
import { demoProfiles } from './vm.js';

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is not a positive number`);
  return n;
}

interface DemoOptions {
  hosts: number;
  minutes: number;
  keep?: boolean;
  metrics: string;
  logLevel: string;
}

/** The demo itself: lab up, six VMs on lab1, the controller ticking until it settles, a summary. */
async function demo(options: DemoOptions): Promise<void> {
  const say = (line: string) => out(line + '\n');
  const lab = new Lab();
  say(`== Bringing up ${options.hosts} lab hosts (libvirtd + QEMU/TCG) in ${lab.paths.root}`);
  await lab.up({ hosts: options.hosts, log: (m) => say(`   ${m}`) });
  const existing = new Set((await lab.listVms()).map((v) => v.name));
  const profiles = demoProfiles().filter((p) => !existing.has(p.name));
  say(`== Starting ${profiles.length} VMs, all on lab1 (each runs a workload that checks its own memory every second)`);
  for (const profile of profiles) {
    await lab.createVm(profile);
    say(`   ${profile.name}: ${profile.vcpus} vCPU, ${profile.memoryMiB} MiB, CPU busy ${profile.cpuBusyPercent}%, dirtying ${profile.dirtyMiBps} MiB/s`);
  }

  const config = demoConfig(await loadConfig(lab.paths.configFile), options.metrics, lab.paths.root);
  const logger = commandLogger(options.logLevel);
  const metrics = createMetrics();
  const results: { result: MigrationResult; heartbeat: string }[] = [];
  let firstReport: TickReport | undefined;
  let lastReport: TickReport | undefined;
  const heartbeatChecks: Promise<void>[] = [];
  const controller = new Controller(config, {
    logger,
    metrics,
    onResult: (result) => {
      const check = (async () => {
        let heartbeat = 'not checked';
        if (result.outcome === 'completed') {
          const before = await lab.heartbeat(result.vm);
          try {
            const after = await lab.waitForHeartbeat(result.vm, { afterSeq: before.seq + 1, timeoutMs: 20_000 });
            heartbeat = `${after.status} (seq ${after.seq})`;
          } catch (error) {
            heartbeat = `FAILED: ${(error as Error).message.split('\n')[0]}`;
          }
        }
        results.push({ result, heartbeat });
        say(
          `   ${result.outcome === 'completed' ? 'done' : result.outcome.toUpperCase()}: ${result.vm} ${result.from} -> ${result.to} by ${result.technique} in ${(result.totalMs / 1000).toFixed(2)} s ` +
            `(predicted ${result.predicted.totalSeconds.toFixed(2)} s), downtime ${result.downtimeMs ?? '?'} ms (predicted ${result.predicted.downtimeMs.toFixed(0)}), ` +
            `${result.bytes !== undefined ? (result.bytes / 2 ** 20).toFixed(0) : '?'} MiB; guest memory check after: ${heartbeat}${result.error ? `; ${result.error}` : ''}`,
        );
      })();
      heartbeatChecks.push(check);
    },
  });
  await controller.init();
  const server = await startMetricsServer(options.metrics, metrics.registry, () => tickHealth(controller.lastTickEndedAtMs, controller.startedAtMs, 5)).catch(
    (error: Error) => {
      say(`   (metrics not served: ${error.message})`);
      return undefined;
    },
  );
  say(
    `== Controller running: a tick every 5 s (collect, plan, migrate) until ${DEMO_QUIET_TICKS} ticks in a row move nothing${server ? `; metrics on http://${options.metrics}/metrics` : ''}`,
  );
  const deadline = Date.now() + options.minutes * 60_000;
  let quietTicks = 0;
  const tickCosts: { wallMs: number; cpuMs: number }[] = [];
  let tickNo = 0;
  // init() primed the counters; rates over a full period are steadier than over a few ms.
  await new Promise((r) => setTimeout(r, 5000));
  while (Date.now() < deadline) {
    const cpuBefore = process.cpuUsage();
    const report = await controller.tick();
    const cpu = process.cpuUsage(cpuBefore);
    tickCosts.push({ wallMs: report.durationMs, cpuMs: (cpu.user + cpu.system) / 1000 });
    tickNo++;
    // "Before" is the first tick with rates (the first only primes the counters).
    if (!firstReport && report.state.hosts.some((h) => h.cpuUtilization.samples > 0)) firstReport = report;
    lastReport = report;
    const hosts = report.state.hosts
      .map(
        (h) =>
          `${h.name} CPU ${formatPercent(h.cpuUtilization.mean)} memory ${formatPercent(memoryRatio(h))} (${report.state.vms.filter((v) => v.host === h.name).length} VMs)`,
      )
      .join(', ');
    say(`-- tick ${tickNo}: ${hosts}; imbalance CPU ${report.plan.imbalanceBefore.toFixed(3)}, memory ${memoryImbalance(report.state.hosts).toFixed(3)}`);
    for (const move of report.plan.moves) {
      say(
        `   plan: ${move.vmName} ${move.from} -> ${move.to} by ${move.technique} (dirty ${move.inputs.dirtyRateMiBps} MiB/s; predicted ${move.predicted.totalSeconds.toFixed(2)} s, ${move.predicted.downtimeMs.toFixed(0)} ms down) because ${move.reason}`,
      );
    }
    for (const r of report.rejected) say(`   waits: ${r.move.vmName}: ${r.reason}`);
    if (report.plan.moves.length === 0) for (const x of report.plan.skipped.slice(0, 3)) say(`   not moved: ${x.vmName}: ${x.reason}`);
    const busy = controller.executor.inFlight().length > 0 || report.admitted.length > 0;
    quietTicks = report.plan.moves.length === 0 && !busy && tickNo > 2 ? quietTicks + 1 : 0;
    // Settled: DEMO_QUIET_TICKS ticks in a row with nothing planned or running.
    if (quietTicks >= DEMO_QUIET_TICKS) break;
    await controller.executor.whenIdle();
    await new Promise((r) => setTimeout(r, 5000));
  }
  await controller.executor.whenIdle();
  await Promise.all(heartbeatChecks);
  await controller.stop();
  server?.close();

  say('');
  say('== Summary');
  if (results.length === 0) say('No migrations happened (no host was above the thresholds or the spread tolerance).');
  else
    say(
      table(
        [
          'vm',
          'move',
          'technique',
          'outcome',
          'real s',
          'predicted s',
          'time error',
          'real downtime ms',
          'predicted downtime ms',
          'downtime real/pred.',
          'MiB',
          'guest memory after',
        ],
        results.map(({ result: r, heartbeat }) => [
          r.vm,
          `${r.from} -> ${r.to}`,
          r.technique,
          r.outcome,
          (r.totalMs / 1000).toFixed(2),
          r.predicted.totalSeconds.toFixed(2),
          // Signed, against the real figure: +40 % means predicted 40 % longer than it took.
          r.totalMs > 0
            ? `${r.predicted.totalSeconds >= r.totalMs / 1000 ? '+' : ''}${((r.predicted.totalSeconds / (r.totalMs / 1000) - 1) * 100).toFixed(0)}%`
            : '?',
          r.downtimeMs !== undefined ? String(r.downtimeMs) : '?',
          r.predicted.downtimeMs.toFixed(0),
          r.downtimeMs !== undefined && r.predicted.downtimeMs > 0 ? (r.downtimeMs / r.predicted.downtimeMs).toFixed(2) : '?',
          r.bytes !== undefined ? (r.bytes / 2 ** 20).toFixed(0) : '?',
          heartbeat,
        ]),
      ),
    );
  if (firstReport && lastReport) {
    say('');
    say(
      table(
        ['host', 'CPU before', 'CPU after', 'memory before', 'memory after', 'VMs before', 'VMs after'],
        lastReport.state.hosts.map((h) => {
          const b = firstReport!.state.hosts.find((x) => x.name === h.name)!;
          return [
            h.name,
            formatPercent(b.cpuUtilization.mean),
            formatPercent(h.cpuUtilization.mean),
            formatPercent(memoryRatio(b)),
            formatPercent(memoryRatio(h)),
            String(firstReport!.state.vms.filter((v) => v.host === h.name).length),
            String(lastReport!.state.vms.filter((v) => v.host === h.name).length),
          ];
        }),
      ),
    );
    // The spread acts on memory as well as CPU (docs/policies.md): show both, or a memory-driven move looks unmotivated.
    say(
      `imbalance (std-dev over hosts): CPU ${firstReport.plan.imbalanceBefore.toFixed(3)} -> ${lastReport.plan.imbalanceBefore.toFixed(3)}, memory ${memoryImbalance(firstReport.state.hosts).toFixed(3)} -> ${memoryImbalance(lastReport.state.hosts).toFixed(3)}`,
    );
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  say(
    `controller: ${tickCosts.length} ticks, median ${med(tickCosts.map((t) => t.wallMs)).toFixed(0)} ms wall and ${med(tickCosts.map((t) => t.cpuMs)).toFixed(0)} ms CPU per tick (collect + plan; dirty-rate measurement of candidates included), RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
  );
  const lost = results.filter((r) => r.result.outcome === 'completed' && !r.heartbeat.startsWith('OK'));
  if (options.keep) say(`\nThe lab is still up: VB_LAB_DIR=${lab.paths.root} npm run lab -- status | down; config: ${lab.paths.configFile}`);
  else {
    say('\n== Taking the lab down');
    await lab.down();
  }
  if (lost.length > 0 || results.some((r) => r.result.outcome !== 'completed')) process.exitCode = 1;
}

process.env.VB_LAB_DIR ??= '/var/tmp/virt-balancer-demo';
process.env.VB_LAB_ADDRESS_PREFIX ??= '127.0.3.';
const program = new Command()
  .name('npm run demo --')
  .description('bring up lab hosts with an uneven load and let the controller rebalance them live (root, in a clone)')
  .option('--hosts <n>', 'lab hosts', positive, 3)
  .option('--minutes <n>', 'stop after this long at most', positive, 5)
  .option('--keep', 'leave the lab running afterwards (take it down with: npm run lab -- down, with the same VB_LAB_DIR)')
  .option('--metrics <listen>', 'serve /metrics here while the demo runs', '127.0.0.1:9464')
  .addOption(logLevelOption())
  .action(action(demo));
await program.parseAsync();
