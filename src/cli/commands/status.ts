/** `virt-balancer status`: hosts and their VMs with CPU and memory use, as a table or JSON. */
import type { Command } from 'commander';
import { collectOnce } from '../../cluster/collector.js';
import type { ClusterState } from '../../cluster/model.js';
import { loadConfig } from '../../config/index.js';
import { Journal } from '../../history/index.js';
import { markPowerStates } from '../../power/decide.js';
import { PowerStates } from '../../power/states.js';
import { action, UserError } from '../errors.js';
import { formatBytes, formatPercent, table } from '../format.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { out, outJson } from '../output.js';

export function statusJson(state: ClusterState) {
  return {
    hosts: state.hosts.map((h) => ({
      name: h.name,
      uri: h.uri,
      up: h.up,
      ...(h.up ? {} : { downReason: h.downReason }),
      // Down on purpose (config power:): being powered down, standby or being woken; not an alarm.
      ...(h.power ? { power: h.power } : {}),
      cpuUtilization: h.cpuUtilization.mean,
      memoryUsedBytes: h.memoryUsedBytes,
      memoryTotalBytes: h.memoryTotalBytes,
      vms: state.vms
        .filter((v) => v.host === h.name)
        .map((v) => ({ name: v.name, uuid: v.uuid, vcpus: v.vcpus, cpuUtilization: v.cpuUtilization.mean, memoryBytes: v.memoryBytes, state: v.state })),
    })),
  };
}

export function register(program: Command): void {
  program
    .command('status')
    .description('show hosts and their VMs with CPU and memory use (samples for about 2 s)')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .option('--sample-seconds <s>', 'seconds between the two samples rates are computed from', '2')
    .addOption(logLevelOption())
    .action(
      action(async (options: { config: string; json?: boolean; sampleSeconds: string; logLevel: string }) => {
        const config = await loadConfig(options.config);
        const logger = commandLogger(options.logLevel);
        // Power states as the controller journaled them (a missing state directory: none), read
        // first so a standby host's unreachability is logged at debug, not as a warning.
        const powerStates = new PowerStates(await new Journal(config.stateDir).readForPlanning().catch(() => []));
        const collected = await collectOnce(config, {
          logger,
          sampleIntervalMs: Number(options.sampleSeconds) * 1000,
          expectedDown: new Set(powerStates.notAwake().keys()),
        });
        await collected.close();
        const state = markPowerStates(collected.state, powerStates);
        // Scripts read exit 0 as "the cluster answered": say so only when some host did.
        const noneRead = () => {
          if (!state.hosts.some((h) => h.up) && !state.hosts.every((h) => h.power))
            throw new UserError(`no host could be read (${state.hosts.map((h) => h.name).join(', ')}: reasons above)`, 1);
        };
        if (options.json) {
          outJson(statusJson(state));
          noneRead();
          return;
        }
        const rows: string[][] = [];
        for (const h of state.hosts) {
          rows.push([
            h.name,
            h.up ? (h.power ? `up, ${h.power}` : 'up') : h.power ? (h.downReason ?? h.power) : `DOWN: ${h.downReason ?? ''}`,
            '',
            h.up ? formatPercent(h.cpuUtilization.mean) : '',
            h.up ? `${formatBytes(h.memoryUsedBytes)} / ${formatBytes(h.memoryTotalBytes)}` : '',
          ]);
          for (const v of state.vms.filter((x) => x.host === h.name)) {
            rows.push([`  ${v.name}`, v.state, String(v.vcpus), formatPercent(v.cpuUtilization.mean), formatBytes(v.memoryBytes)]);
          }
        }
        out(table(['host / vm', 'state', 'vCPUs', 'CPU', 'memory'], rows) + '\n');
        noneRead();
      }),
    );
}
