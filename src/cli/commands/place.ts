/**
 * `virt-balancer place`: where should a new VM go now? Judges every host with the limits and
 * policies balancing uses (src/policy/place.ts) and answers the best one, with the reason for
 * every host refused. For provisioning tools (docs/placement.md has an Ansible example).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { collectOnce } from '../../cluster/collector.js';
import type { ClusterState } from '../../cluster/model.js';
import { loadConfig } from '../../config/index.js';
import type { PolicyConfig } from '../../config/policy-schema.js';
import { judgeTargets, newVmObservation, type HostVerdict } from '../../policy/place.js';
import { closePolicies, loadPolicies } from '../../policy/index.js';
import { action, UserError } from '../errors.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { table } from '../format.js';
import { out, outJson } from '../output.js';

const positiveInt = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive whole number, got "${value}"`);
  return n;
};

/** `k=v` pairs into a record; a pair without "=" is refused naming it. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UserError(`--labels "${pair}" is not key=value (e.g. --labels rack=a)`);
    labels[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return labels;
}

/**
 * How the new VM joins affinity group `group`: a group of that name in policy.affinityGroups gets
 * the VM added (its type decides); else VMs tagged `group:NAME` make it an anti-affinity tag,
 * otherwise an `affinity:NAME` tag (the affinity policy's tag conventions).
 */
export function joinAffinityGroup(
  group: string,
  vmName: string,
  policy: PolicyConfig,
  state: Pick<ClusterState, 'vms'>,
): { policy: PolicyConfig; tags: string[] } {
  const configured = policy.affinityGroups.find((g) => g.name === group);
  if (configured)
    return { policy: { ...policy, affinityGroups: policy.affinityGroups.map((g) => (g === configured ? { ...g, vms: [...g.vms, vmName] } : g)) }, tags: [] };
  const anti = state.vms.some((v) => v.tags.includes(`group:${group}`));
  return { policy, tags: [anti ? `group:${group}` : `affinity:${group}`] };
}

/** `place`'s exit statuses beyond 0 (a host fits), 1 (an error) and 2 (an invalid config), so a provisioning tool can tell them apart. */
export const PLACE_EXIT = { noHostFits: 3, noHostRead: 4 } as const;

/**
 * The first line of `place`'s text answer when no host fits, and the exit status: every host
 * unreachable is not a capacity problem and is said so; hosts that could not be read are named
 * beside the ones that refused.
 */
export function noPlacement(state: Pick<ClusterState, 'hosts'>, vm: { name: string; vcpus: number; memoryMib: number }): { line: string; exitCode: number } {
  const down = state.hosts.filter((h) => !h.up).map((h) => h.name);
  if (down.length === state.hosts.length)
    return {
      line: `No host could be read (${down.join(', ')} unreachable), so none was judged for ${vm.name}: the reasons are below; this is not a capacity answer.`,
      exitCode: PLACE_EXIT.noHostRead,
    };
  return {
    line: `No host fits ${vm.name} (${vm.vcpus} vCPUs, ${vm.memoryMib} MiB)${down.length > 0 ? `; ${down.join(', ')} could not be read and ${down.length === 1 ? 'was' : 'were'} not judged` : ''}.`,
    exitCode: PLACE_EXIT.noHostFits,
  };
}

/** The answer as `place --json` prints it. */
export function placeJson(verdicts: HostVerdict[]) {
  const best = verdicts.find((v) => v.accepted);
  return {
    host: best?.host ?? null,
    hosts: verdicts.map((v) => ({
      host: v.host,
      accepted: v.accepted,
      ...(v.accepted ? { score: Number(v.score!.toFixed(4)) } : { reason: v.reason }),
      cpuAfterPercent: v.cpuAfterRatio === undefined ? null : Number((v.cpuAfterRatio * 100).toFixed(1)),
      memoryAfterPercent: v.memoryAfterRatio === undefined ? null : Number((v.memoryAfterRatio * 100).toFixed(1)),
    })),
  };
}

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
      action(
        async (options: {
          config: string;
          vcpus: number;
          memoryMib: number;
          labels: string[];
          affinityGroup?: string;
          cpuModel?: string;
          cpuPercent: string;
          name: string;
          json?: boolean;
          logLevel: string;
        }) => {
          const cpuPercent = Number(options.cpuPercent);
          if (!Number.isFinite(cpuPercent) || cpuPercent < 0 || cpuPercent > 100)
            throw new UserError(`--cpu-percent must be 0 to 100, got "${options.cpuPercent}"`);
          const requiredLabels = parseLabels(options.labels);
          const config = await loadConfig(options.config);
          const logger = commandLogger(options.logLevel);
          const { state, close } = await collectOnce(config, { logger, sampleIntervalMs: 200 });
          let policies;
          try {
            if (state.vms.some((v) => v.name === options.name))
              throw new UserError(
                `a VM named "${options.name}" already exists (on ${state.vms.find((v) => v.name === options.name)!.host}); give the new one its own --name`,
              );
            const group = options.affinityGroup
              ? joinAffinityGroup(options.affinityGroup, options.name, config.policy, state)
              : { policy: config.policy, tags: [] };
            policies = await loadPolicies(group.policy);
            const vm = newVmObservation({
              name: options.name,
              vcpus: options.vcpus,
              memoryMiB: options.memoryMib,
              cpuRatio: cpuPercent / 100,
              cpuModel: options.cpuModel,
              tags: group.tags,
            });
            const verdicts = await judgeTargets(vm, state, { policies, config: group.policy, requiredLabels, cpuModel: options.cpuModel });
            const best = verdicts.find((v) => v.accepted);
            const none = best ? undefined : noPlacement(state, options);
            if (options.json) outJson(placeJson(verdicts));
            else {
              out(best ? `${best.host}\n\n` : `${none!.line}\n\n`);
              out(
                table(
                  ['host', 'verdict', 'score', 'CPU after', 'memory after', 'reason'],
                  verdicts.map((v) => [
                    v.host,
                    v.accepted ? 'fits' : 'refused',
                    v.accepted ? v.score!.toFixed(3) : '',
                    v.cpuAfterRatio === undefined ? '-' : `${(v.cpuAfterRatio * 100).toFixed(0)}%`,
                    v.memoryAfterRatio === undefined ? '-' : `${(v.memoryAfterRatio * 100).toFixed(0)}%`,
                    v.reason ?? '',
                  ]),
                ) + '\n',
              );
            }
            if (none) process.exitCode = none.exitCode;
          } finally {
            await close();
            if (policies) await closePolicies(policies);
          }
        },
      ),
    );
}
