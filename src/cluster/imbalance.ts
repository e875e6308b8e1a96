/**
 * The imbalance the plan and the metric report: how unevenly CPU load is spread. (The engine
 * minimises a wider objective over CPU and memory: src/policy/objective.ts.)
 * Population standard deviation of host CPU utilisation ratios (smoothed means) over hosts that
 * are up and not in maintenance; 0 is perfectly even.
 */
import type { HostObservation } from './model.js';

export function stdDev(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

export function clusterImbalance(hosts: readonly HostObservation[]): number {
  return stdDev(hosts.filter((h) => h.up && !h.maintenance).map((h) => h.cpuUtilization.mean));
}

/** A host's memory in use as a ratio of its total (0 when the total is unknown). */
export function hostMemoryRatio(h: HostObservation): number {
  return h.memoryTotalBytes > 0 ? h.memoryUsedBytes / h.memoryTotalBytes : 0;
}

/** The same spread for memory: standard deviation of memory-use ratios over the same hosts. */
export function memoryImbalance(hosts: readonly HostObservation[]): number {
  return stdDev(hosts.filter((h) => h.up && !h.maintenance).map(hostMemoryRatio));
}
