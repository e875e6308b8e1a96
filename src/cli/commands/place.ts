/**
 * `virt-balancer place`: where should a new VM go now? Judges every host with the limits and
 * policies balancing uses (src/policy/place.ts) and answers the best one, with the reason for
 * every host refused. For provisioning tools (docs/placement.md has an Ansible example).
 */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { placeNewVm } from '../../controller/workflows/place.js';
import { action, UserError } from '../errors.js';
import { noPlacement, PLACE_EXIT, parseLabels, placeJson, positiveInt, renderPlacement } from '../format-place.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { out, outJson } from '../output.js';

export { joinAffinityGroup } from '../../controller/workflows/place.js';
export { noPlacement, PLACE_EXIT, parseLabels, placeJson } from '../format-place.js';

type PlaceOptions = { config: string; vcpus: number; memoryMib: number; labels: string[]; affinityGroup?: string; cpuModel?: string; cpuPercent: string };

export function register(program: Command): void {
  program
    .command('place')
    .description(
      `answer the best host for a new VM now, with the filters and scores balancing uses, and why every other host was refused (exit ${PLACE_EXIT.noHostFits} when none fits, ${PLACE_EXIT.noHostRead} when no host could be read)`,
    )
    .requiredOption('-c, --config <file>', 'config file')
    .requiredOption('--vcpus <n>', 'vCPUs of the new VM', positiveInt('--vcpus'))
    .requiredOption('--memory-mib <n>', 'memory of the new VM, MiB', positiveInt('--memory-mib'))
    .option('--labels <k=v...>', 'host labels the VM requires (hosts[].labels)', [])
    .option('--affinity-group <name>', 'affinity or anti-affinity group the VM will belong to (policy.affinityGroups, or group:/affinity: tags)')
    .option('--cpu-model <model>', 'guest CPU model; hosts of another model need every CPU feature of a host of this model')
    .option('--cpu-percent <p>', 'expected CPU use of the new VM, percent of its vCPUs (a new VM has no history)', '50')
    .option('--name <name>', 'name of the new VM (as policies see it)', 'new-vm')
    .option('--json', 'print JSON: {"host": best or null, "hosts": [...]}')
    .addOption(logLevelOption())
    .action(
      action(async (options: PlaceOptions & { name: string; json?: boolean; logLevel: string }) => {
        const cpuPercent = Number(options.cpuPercent);
        if (!Number.isFinite(cpuPercent) || cpuPercent < 0 || cpuPercent > 100)
          throw new UserError(`--cpu-percent must be 0 to 100, got "${options.cpuPercent}"`);
        const requiredLabels = parseLabels(options.labels);
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        try {
          const { state, verdicts } = await placeNewVm(session, { ...options, cpuRatio: cpuPercent / 100, requiredLabels });
          const none = verdicts.some((v) => v.accepted) ? undefined : noPlacement(state, options);
          if (options.json) outJson(placeJson(verdicts));
          else out(renderPlacement(verdicts, none));
          if (none) process.exitCode = none.exitCode;
        } finally {
          await session.close();
        }
      }),
    );
}
