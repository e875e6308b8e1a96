/**
 * Balance-quality metrics of a trace replay, after Beloglazov & Buyya (CCPE 2012).
 *
 * The paper defines SLATAH as the mean over hosts of (time overloaded / time active) and PDM as
 * the mean over VMs of (CPU lost to migration / CPU requested). CloudSim's code, which produced
 * the published figures, computes both as ratios of sums over all hosts / all VMs. We report the
 * CloudSim form as the headline (so our figures can be held against the published ones) and the
 * paper's per-host / per-VM means beside it.
 */

export interface HostTimeTally {
  /** Seconds the host had at least one VM. */
  activeSeconds: number;
  /** Seconds (while active) the host's CPU demand exceeded its capacity. */
  overloadedSeconds: number;
}

export interface VmCpuTally {
  /** CPU the VM asked for over the run, MIPS x seconds. */
  requestedMipsSeconds: number;
  /** CPU it lost to migrations (10% of its demand while migrating), MIPS x seconds. */
  migrationDegradationMipsSeconds: number;
}

export interface SlaMetrics {
  /** CloudSim form: sum of overloaded host-seconds / sum of active host-seconds (0..1). */
  slatah: number;
  /** CloudSim form: sum of migration degradation / sum of requested CPU (0..1). */
  pdm: number;
  /** slatah x pdm. */
  slav: number;
  /** Paper form: mean over ever-active hosts of overloaded/active (0..1). */
  slatahPerHostMean: number;
  /** Paper form: mean over VMs that requested any CPU of degradation/requested (0..1). */
  pdmPerVmMean: number;
  /** slatahPerHostMean x pdmPerVmMean. */
  slavPaperForm: number;
}

export function computeSlaMetrics(hosts: readonly HostTimeTally[], vms: readonly VmCpuTally[]): SlaMetrics {
  let activeSum = 0;
  let overloadedSum = 0;
  let perHostRatioSum = 0;
  let activeHosts = 0;
  for (const h of hosts) {
    if (h.overloadedSeconds > h.activeSeconds + 1e-9) {
      throw new Error(`host tally overloadedSeconds ${h.overloadedSeconds} exceeds activeSeconds ${h.activeSeconds}`);
    }
    activeSum += h.activeSeconds;
    overloadedSum += h.overloadedSeconds;
    if (h.activeSeconds > 0) {
      perHostRatioSum += h.overloadedSeconds / h.activeSeconds;
      activeHosts++;
    }
  }
  let requestedSum = 0;
  let degradedSum = 0;
  let perVmRatioSum = 0;
  let requestingVms = 0;
  for (const v of vms) {
    requestedSum += v.requestedMipsSeconds;
    degradedSum += v.migrationDegradationMipsSeconds;
    if (v.requestedMipsSeconds > 0) {
      perVmRatioSum += v.migrationDegradationMipsSeconds / v.requestedMipsSeconds;
      requestingVms++;
    }
  }
  const slatah = activeSum > 0 ? overloadedSum / activeSum : 0;
  const pdm = requestedSum > 0 ? degradedSum / requestedSum : 0;
  const slatahPerHostMean = activeHosts > 0 ? perHostRatioSum / activeHosts : 0;
  const pdmPerVmMean = requestingVms > 0 ? perVmRatioSum / requestingVms : 0;
  return {
    slatah,
    pdm,
    slav: slatah * pdm,
    slatahPerHostMean,
    pdmPerVmMean,
    slavPaperForm: slatahPerHostMean * pdmPerVmMean,
  };
}

/** Population standard deviation; the imbalance measure of a set of host utilisations. */
export function standardDeviation(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (values[i] - mean) ** 2;
  return Math.sqrt(sq / n);
}

/**
 * Host power in watts from a SPECpower-style table (watts at 0%, 10%, ..., 100% load), linearly
 * interpolated as CloudSim's PowerModelSpecPower does. Load above 100% draws full power.
 */
export function powerWatts(table: readonly number[], utilizationRatio: number): number {
  if (table.length !== 11) throw new Error(`power table must have 11 entries (0%..100%), has ${table.length}`);
  const u = Math.min(1, Math.max(0, utilizationRatio));
  const lower = Math.floor(u * 10);
  if (lower >= 10) return table[10];
  const frac = u * 10 - lower;
  return table[lower] + (table[lower + 1] - table[lower]) * frac;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
