/** How `status` prints the hosts and their VMs: a table for people, JSON for scripts. */
import type { ClusterState } from '../cluster/model.js';
import { formatBytes, formatPercent, table } from './format.js';

export { statusJson } from '../controller/json-shapes.js';

/** The table `status` prints: a row per host, its VMs indented below it. */
export function renderStatus(state: ClusterState): string {
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
  return `${table(['host / vm', 'state', 'vCPUs', 'CPU', 'memory'], rows)}\n`;
}
