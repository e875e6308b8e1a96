/** How `place` reads its options and prints its answer; its exit statuses. */
import { InvalidArgumentError } from 'commander';
import type { ClusterState } from '../cluster/model.js';
import type { HostVerdict } from '../policy/place.js';
import { UserError } from './errors.js';
import { table } from './format.js';

export { placeJson } from '../controller/json-shapes.js';

/** A commander parser of a positive whole number, naming the option when it is not one. */
export const positiveInt = (what: string) => (value: string) => {
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

/** The text answer: the best host (or why none), then every host's verdict. */
export function renderPlacement(verdicts: HostVerdict[], none: { line: string } | undefined): string {
  const best = verdicts.find((v) => v.accepted);
  return `${best ? best.host : none!.line}\n\n${table(
    ['host', 'verdict', 'score', 'CPU after', 'memory after', 'reason'],
    verdicts.map((v) => [
      v.host,
      v.accepted ? 'fits' : 'refused',
      v.accepted ? v.score!.toFixed(3) : '',
      v.cpuAfterRatio === undefined ? '-' : `${(v.cpuAfterRatio * 100).toFixed(0)}%`,
      v.memoryAfterRatio === undefined ? '-' : `${(v.memoryAfterRatio * 100).toFixed(0)}%`,
      v.reason ?? '',
    ]),
  )}\n`;
}
