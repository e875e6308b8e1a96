/**
 * The planning engine: plan(state) -> Plan, touching no network, so the same code runs live, in
 * `plan` (dry-run), in the simulator, in benchmarks and in tests.
 *
 * The engine owns the objective (imbalance = std-dev of host CPU ratios, before vs after, against
 * the migration's predicted cost), hysteresis, cooldown, capacity and anti-ping-pong; policies own
 * candidates, constraints and preferences.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import { policySchema, type PolicyConfig } from '../config/policy-schema.js';
import type { Candidate, PolicyContext, ProjectedHost } from './api.js';
import { chooseTechnique } from './chooser.js';
import { defaultPolicies, type LoadedPolicy } from './loader.js';
import type { Move, Plan, SkippedVm, Technique } from './plan-types.js';
import { TECHNIQUES } from './plan-types.js';
import { techniquesFor } from './capabilities.js';

export interface PlanOptions {
  policies?: LoadedPolicy[];
  config?: PolicyConfig;
  nowMs?: number;
  /** Per-migration bandwidth limit from migration config (0 = none): caps the chooser's bandwidth. */
  bandwidthLimitMiBps?: number;
  /** Bandwidth measured on recent migrations from one host to another (cluster/link-bandwidth.ts). */
  linkBandwidthMiBps?: (from: string, to: string) => number | undefined;
  /** Real / predicted ratios of past moves per pair and technique (PredictionCalibration.factors). */
  calibration?: (from: string, to: string, technique: Technique) => { timeFactor: number; downtimeFactor: number };
  /** Override of config.maxMovesPerTick (drain uses a large value). */
  maxMoves?: number;
}

const DEFAULT_CONFIG: PolicyConfig = policySchema.parse({});

/**
 * What the cost model is told about a VM's move: memory that must travel (the resident set when
 * smaller: zero pages are not sent), its measured dirty rate (0 when unknown) and the bandwidth:
 * what recent migrations over the same pair of hosts achieved when known, else the policy's
 * estimate; capped by the per-migration limit when one is set.
 */
export function moveInputs(
  vm: VmObservation,
  config: PolicyConfig,
  bandwidthLimitMiBps?: number,
  measuredLinkMiBps?: number,
): { memoryBytes: number; dirtyRateMiBps: number; bandwidthMiBps: number; bandwidthMeasured: boolean; localDiskBytes: number } {
  const bandwidthMeasured = measuredLinkMiBps !== undefined && measuredLinkMiBps > 0;
  const assumed = bandwidthMeasured ? measuredLinkMiBps : config.bandwidthMiBps;
  return {
    memoryBytes: vm.rssBytes !== undefined && vm.rssBytes > 0 && vm.rssBytes < vm.memoryBytes ? vm.rssBytes : vm.memoryBytes,
    dirtyRateMiBps: vm.dirtyRateMiBps ?? 0,
    bandwidthMiBps: bandwidthLimitMiBps ? Math.min(assumed, bandwidthLimitMiBps) : assumed,
    bandwidthMeasured,
    localDiskBytes: vm.disksShared ? 0 : vm.localDiskBytes,
  };
}

type PolicyError = Plan['policyErrors'][number];

class PolicyFailure extends Error {}

/** Call a policy extension point; errors, garbage and timeouts become policy errors. */
async function callPolicy<T>(
  loaded: LoadedPolicy,
  point: string,
  timeoutMs: number,
  errors: PolicyError[],
  where: { vm?: string; host?: string },
  fn: () => T | Promise<T>,
  valid: (value: unknown) => value is T,
): Promise<T> {
  const started = performance.now();
  let value: unknown;
  try {
    const result = fn();
    if (result instanceof Promise) {
      let timer: NodeJS.Timeout | undefined;
      value = await Promise.race([
        result,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms (policy.policyTimeoutMs)`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    } else value = result;
  } catch (error) {
    errors.push({ policy: loaded.policy.name, ...where, message: `${point} threw: ${(error as Error)?.message ?? String(error)}` });
    throw new PolicyFailure();
  }
  const elapsed = performance.now() - started;
  if (elapsed > timeoutMs) {
    errors.push({ policy: loaded.policy.name, ...where, message: `${point} took ${elapsed.toFixed(0)} ms, over policy.policyTimeoutMs (${timeoutMs} ms)` });
    throw new PolicyFailure();
  }
  if (!valid(value)) {
    errors.push({ policy: loaded.policy.name, ...where, message: `${point} returned ${describe(value)}, which is not what ${point} must return` });
    throw new PolicyFailure();
  }
  return value;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return String(value);
  }
}

const isFilterResult = (v: unknown): v is true | string => v === true || (typeof v === 'string' && v.length > 0);
const isScore = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCandidates = (v: unknown): v is Candidate[] =>
  Array.isArray(v) && v.every((c) => c && typeof c === 'object' && typeof (c as Candidate).vm?.uuid === 'string' && typeof (c as Candidate).reason === 'string');
const isTechniques = (v: unknown): v is readonly Technique[] | undefined =>
  v === undefined || (Array.isArray(v) && v.every((t) => (TECHNIQUES as readonly unknown[]).includes(t)));

/** Incremental spread over host ratios, so trying a target is O(1) even with 1,000 hosts. */
class Spread {
  private sum = 0;
  private sumSq = 0;
  constructor(private readonly ratios: Map<string, number>) {
    for (const r of ratios.values()) {
      this.sum += r;
      this.sumSq += r * r;
    }
  }
  /** Sums if `from` lost `fromDelta` and `to` gained `toDelta` (hosts outside the set are ignored). */
  private shifted(from: string, fromDelta: number, to: string, toDelta: number): { sum: number; sumSq: number; updates: [string, number][] } {
    let { sum, sumSq } = this;
    const updates: [string, number][] = [];
    for (const [name, delta] of [
      [from, -fromDelta],
      [to, toDelta],
    ] as const) {
      const r = this.ratios.get(name);
      if (r === undefined) continue;
      sum += delta;
      sumSq += (r + delta) ** 2 - r * r;
      updates.push([name, r + delta]);
    }
    return { sum, sumSq, updates };
  }
  private static sd(sum: number, sumSq: number, n: number): number {
    return n === 0 ? 0 : Math.sqrt(Spread.sse(sum, sumSq, n) / n);
  }
  private static sse(sum: number, sumSq: number, n: number): number {
    return n === 0 ? 0 : Math.max(0, sumSq - (sum * sum) / n);
  }
  value(): number {
    return Spread.sd(this.sum, this.sumSq, this.ratios.size);
  }
  after(from: string, fromDelta: number, to: string, toDelta: number): number {
    const { sum, sumSq } = this.shifted(from, fromDelta, to, toDelta);
    return Spread.sd(sum, sumSq, this.ratios.size);
  }
  /**
   * Sum of squared deviations from the mean: the move's gain is measured on this, not on the
   * std-dev, because one move changes the std-dev of a 1,000-host cluster by ~1/1000 of what it
   * changes a 3-host one — relieving a hot host must be worth the same in both.
   */
  sse(): number {
    return Spread.sse(this.sum, this.sumSq, this.ratios.size);
  }
  sseAfter(from: string, fromDelta: number, to: string, toDelta: number): number {
    const { sum, sumSq } = this.shifted(from, fromDelta, to, toDelta);
    return Spread.sse(sum, sumSq, this.ratios.size);
  }
  apply(from: string, fromDelta: number, to: string, toDelta: number): void {
    const { sum, sumSq, updates } = this.shifted(from, fromDelta, to, toDelta);
    this.sum = sum;
    this.sumSq = sumSq;
    for (const [name, value] of updates) this.ratios.set(name, value);
  }
}

export async function plan(state: ClusterState, options: PlanOptions = {}): Promise<Plan> {
  const config = options.config ?? DEFAULT_CONFIG;
  const policies = options.policies ?? defaultPolicies(config);
  const nowMs = options.nowMs ?? state.observedAtMs;
  const maxMoves = options.maxMoves ?? config.maxMovesPerTick;
  const errors: PolicyError[] = [];
  const skipped: SkippedVm[] = [];
  const moves: Move[] = [];

  const hostsByName = new Map(state.hosts.map((h) => [h.name, h]));
  const vmsByUuid = new Map(state.vms.map((v) => [v.uuid, v]));
  const cpuShare = (vm: VmObservation, host: HostObservation) => (host.cpuCount > 0 ? (vm.cpuUtilization.mean * vm.vcpus) / host.cpuCount : 0);
  const projected = new Map<string, ProjectedHost>();
  for (const host of state.hosts) {
    const vms = state.vms.filter((v) => v.host === host.name);
    projected.set(host.name, {
      host,
      cpuRatio: host.cpuUtilization.mean,
      cpuRatioP90: Math.max(host.cpuUtilization.p90, host.cpuUtilization.mean),
      memoryUsedBytes: host.memoryUsedBytes,
      vcpus: vms.reduce((s, v) => s + v.vcpus, 0),
      vmUuids: new Set(vms.map((v) => v.uuid)),
    });
  }
  const balanced = new Map([...projected].filter(([, p]) => p.host.up && !p.host.maintenance).map(([name, p]) => [name, p.cpuRatio]));
  const spread = new Spread(balanced);
  const imbalanceBefore = spread.value();
  // Migrations under way count as done: their load is the target's, not the source's, so the
  // source is not relieved twice and the target not filled twice. vCPUs are reserved on the target
  // and kept on the source until the VM leaves it; memory needs nothing here (the incoming domain
  // already exists on the target and the collector counts it there).
  for (const m of state.inFlight) {
    const vm = vmsByUuid.get(m.vmUuid);
    const source = vm && hostsByName.get(vm.host);
    const target = hostsByName.get(m.to);
    if (!vm || !source || !target || target === source) continue;
    const fromShare = cpuShare(vm, source);
    const toShare = cpuShare(vm, target);
    spread.apply(source.name, fromShare, target.name, toShare);
    const ps = projected.get(source.name)!;
    const pt = projected.get(target.name)!;
    ps.cpuRatio -= fromShare;
    ps.cpuRatioP90 -= fromShare;
    ps.vmUuids.delete(vm.uuid);
    pt.cpuRatio += toShare;
    pt.cpuRatioP90 += toShare;
    pt.vcpus += vm.vcpus;
    pt.vmUuids.add(vm.uuid);
  }
  const thresholds = {
    cpuHigh: config.cpuHighPercent / 100,
    cpuLow: config.cpuLowPercent / 100,
    memoryHigh: config.memoryHighPercent / 100,
    hysteresis: config.hysteresisPercent / 100,
  };
  // Above by more than float noise: loads summed from VM shares (0.8 x 5 / 4 = 1.0000000000000002)
  // must not keep a host that is exactly at a threshold "above" it.
  const epsilon = 1e-9;
  const above = (name: string, cpuLimit: number, memoryLimit: number) => {
    const p = projected.get(name);
    if (!p || !p.host.up) return { cpu: false, memory: false };
    return { cpu: p.cpuRatio > cpuLimit + epsilon, memory: p.host.memoryTotalBytes > 0 && p.memoryUsedBytes / p.host.memoryTotalBytes > memoryLimit + epsilon };
  };
  const overloaded = (name: string) => {
    const a = above(name, thresholds.cpuHigh, thresholds.memoryHigh);
    return a.cpu || a.memory;
  };
  // Hysteresis: a host above a threshold when planning starts is relieved until it is that far
  // below it (or the move budget or the gain runs out), so it does not sit just under the line.
  const hotAtStart = new Map(state.hosts.map((h) => [h.name, above(h.name, thresholds.cpuHigh, thresholds.memoryHigh)]));
  const needsRelief = (name: string) => {
    const hot = hotAtStart.get(name);
    const stillAbove = above(name, thresholds.cpuHigh - thresholds.hysteresis, thresholds.memoryHigh - thresholds.hysteresis);
    return Boolean(hot && ((hot.cpu && stillAbove.cpu) || (hot.memory && stillAbove.memory)));
  };
  const contextFor = (loaded: LoadedPolicy): PolicyContext => ({
    state,
    config,
    options: loaded.options,
    thresholds,
    host: (name) => hostsByName.get(name),
    vm: (uuid) => vmsByUuid.get(uuid),
    projected: (name) => projected.get(name),
    overloaded,
    cpuShare,
    nowMs,
  });
  const contexts = new Map(policies.map((p) => [p, contextFor(p)]));

  // 1. Candidates from every policy's select.
  const candidates = new Map<string, Candidate>();
  for (const loaded of policies) {
    if (!loaded.policy.select) continue;
    try {
      const selected = await callPolicy(loaded, 'select', config.policyTimeoutMs, errors, {}, () => loaded.policy.select!(contexts.get(loaded)!), isCandidates);
      for (const c of selected) {
        const vm = vmsByUuid.get(c.vm.uuid);
        if (!vm) continue;
        const existing = candidates.get(vm.uuid);
        if (!existing) candidates.set(vm.uuid, { vm, reason: c.reason, mustMove: c.mustMove });
        else if (c.mustMove && !existing.mustMove) candidates.set(vm.uuid, { vm, reason: c.reason, mustMove: true });
      }
    } catch (e) {
      if (!(e instanceof PolicyFailure)) throw e;
    }
  }
  const ordered = [...candidates.values()].sort((a, b) => Number(Boolean(b.mustMove)) - Number(Boolean(a.mustMove)));
  const inFlight = new Set(state.inFlight.map((m) => m.vmUuid));

  for (const candidate of ordered) {
    const vm = candidate.vm;
    const skip = (reason: string) => skipped.push({ vmName: vm.name, vmUuid: vm.uuid, reason });
    if (moves.length >= maxMoves) {
      skip(`max moves per tick (${maxMoves}) reached; considered again next tick`);
      continue;
    }
    if (config.ignoredVms.includes(vm.name)) {
      skip('ignored by config (policy.ignoredVms)');
      continue;
    }
    if (inFlight.has(vm.uuid) || vm.jobRunning) {
      skip('a migration or other job is already running for it');
      continue;
    }
    const movedAt = state.lastMovedAtMs[vm.uuid];
    if (!candidate.mustMove && movedAt !== undefined && nowMs - movedAt < config.cooldownSeconds * 1000) {
      skip(`moved ${((nowMs - movedAt) / 1000).toFixed(0)} s ago; cooldown ${config.cooldownSeconds} s`);
      continue;
    }
    const running = vm.state === 'running';
    if (!running && !(vm.state === 'shutoff' && candidate.mustMove)) {
      skip(`not running (${vm.state})`);
      continue;
    }
    const source = hostsByName.get(vm.host);
    if (!source) continue;
    if (!candidate.mustMove && !needsRelief(source.name)) {
      skip(`host ${source.name} is no longer above the thresholds (less hysteresis) after the moves planned before it`);
      continue;
    }

    const rejections: string[] = [];
    let failedPolicy = false;
    const feasible: { host: HostObservation; score: number; gain: number; imbalanceAfter: number }[] = [];
    for (const target of state.hosts) {
      if (target.name === source.name) continue;
      if (!target.up) {
        rejections.push(`${target.name} is down`);
        continue;
      }
      if (target.maintenance) {
        rejections.push(`${target.name} is in maintenance`);
        continue;
      }
      const p = projected.get(target.name)!;
      if (p.memoryUsedBytes + vm.memoryBytes > target.memoryTotalBytes * target.memoryOvercommitRatio) {
        rejections.push(`${target.name} lacks memory`);
        continue;
      }
      if (p.vcpus + vm.vcpus > target.cpuCount * target.cpuOvercommitRatio) {
        rejections.push(`${target.name} would exceed its vCPU overcommit`);
        continue;
      }
      const failed = [...(state.recentFailures ?? [])].reverse().find((f) => f.vmUuid === vm.uuid && f.to === target.name && nowMs - f.atMs < config.retryAfterFailureSeconds * 1000);
      if (failed) {
        rejections.push(`a move of ${vm.name} to ${target.name} ended ${failed.outcome} ${((nowMs - failed.atMs) / 1000).toFixed(0)} s ago${failed.error ? ` (${failed.error.slice(0, 120)})` : ''}; retried after ${config.retryAfterFailureSeconds} s`);
        continue;
      }
      const back = state.recentMoves.find((m) => m.vmUuid === vm.uuid && m.from === target.name && nowMs - m.atMs < config.cooldownSeconds * 3000);
      if (back && !candidate.mustMove) {
        rejections.push(`${vm.name} left ${target.name} ${((nowMs - back.atMs) / 1000).toFixed(0)} s ago (no ping-pong)`);
        continue;
      }
      let rejected: string | undefined;
      let weighted = 0;
      let weights = 0;
      try {
        for (const loaded of policies) {
          const ctx = contexts.get(loaded)!;
          if (loaded.policy.filter) {
            const verdict = await callPolicy(loaded, 'filter', config.policyTimeoutMs, errors, { vm: vm.name, host: target.name }, () => loaded.policy.filter!(vm, target, ctx), isFilterResult);
            if (verdict !== true) {
              rejected = `${loaded.policy.name}: ${verdict}`;
              break;
            }
          }
        }
        if (!rejected) {
          for (const loaded of policies) {
            if (!loaded.policy.score || loaded.weight === 0) continue;
            const ctx = contexts.get(loaded)!;
            const score = await callPolicy(loaded, 'score', config.policyTimeoutMs, errors, { vm: vm.name, host: target.name }, () => loaded.policy.score!(vm, target, ctx), isScore);
            weighted += Math.min(1, Math.max(0, score)) * loaded.weight;
            weights += loaded.weight;
          }
        }
      } catch (e) {
        if (!(e instanceof PolicyFailure)) throw e;
        failedPolicy = true;
        break;
      }
      if (rejected) {
        rejections.push(rejected);
        continue;
      }
      const after = spread.after(source.name, cpuShare(vm, source), target.name, cpuShare(vm, target));
      const gain = spread.sse() - spread.sseAfter(source.name, cpuShare(vm, source), target.name, cpuShare(vm, target));
      feasible.push({ host: target, score: weights > 0 ? weighted / weights : 0, gain, imbalanceAfter: after });
    }
    if (failedPolicy) {
      skip('a policy failed while judging it (see policy errors); no move depends on a failed policy');
      continue;
    }
    if (feasible.length === 0) {
      const shown = [...new Set(rejections)].slice(0, 3).join('; ');
      skip(`no eligible target: ${shown || 'no other host'}${rejections.length > 3 ? ` (+${rejections.length - 3} more)` : ''}`);
      continue;
    }
    feasible.sort((a, b) => b.score - a.score || b.gain - a.gain);
    const best = feasible[0];

    // How it moves.
    let allowed: readonly Technique[] = running ? config.allowedTechniques.filter((t) => t !== 'cold') : config.allowedTechniques.filter((t) => t === 'cold');
    try {
      for (const loaded of policies) {
        if (!loaded.policy.technique) continue;
        const narrowed = await callPolicy(loaded, 'technique', config.policyTimeoutMs, errors, { vm: vm.name, host: best.host.name }, () => loaded.policy.technique!(vm, allowed, contexts.get(loaded)!), isTechniques);
        if (narrowed) allowed = allowed.filter((t) => narrowed.includes(t));
      }
    } catch (e) {
      if (!(e instanceof PolicyFailure)) throw e;
      skip('a policy failed while choosing its technique (see policy errors)');
      continue;
    }
    // Only what both daemons' versions support (an old libvirt refuses an unknown flag outright).
    const versionGate = techniquesFor(allowed, source, best.host);
    allowed = versionGate.usable;
    if (allowed.length === 0) {
      const why = versionGate.unusable.length > 0 ? `; ${versionGate.unusable.map((u) => u.reason).join('; ')}` : '';
      skip((running ? 'no live technique allowed (policy.allowedTechniques and technique policies)' : 'shut off and cold migration is not allowed') + why);
      continue;
    }
    const { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured, localDiskBytes } = moveInputs(vm, config, options.bandwidthLimitMiBps, options.linkBandwidthMiBps?.(vm.host, best.host.name));
    const choice = chooseTechnique({
      memoryBytes,
      dirtyRateMiBps,
      bandwidthMiBps,
      downtimeBudgetMs: config.downtimeBudgetMs,
      allowed,
      running,
      localDiskBytes,
      calibration: options.calibration && ((t: Technique) => options.calibration!(vm.host, best.host.name, t)),
    });
    if (!choice.predicted.converges) {
      // A shut-off VM's only technique is refused for a reason of its own (local disks), not convergence.
      const own = !running ? choice.alternatives.find((a) => a.technique === 'cold')?.rejected : undefined;
      skip(own ?? `no allowed technique (${allowed.join(', ')}) converges within the ${config.downtimeBudgetMs} ms downtime budget at ${dirtyRateMiBps.toFixed(0)} MiB/s dirty rate and ${bandwidthMiBps.toFixed(0)} MiB/s${bandwidthMeasured ? ` (measured ${vm.host} -> ${best.host.name})` : ''}`);
      continue;
    }
    const costSeconds = choice.predicted.totalSeconds + choice.predicted.downtimeMs / 1000;
    if (!candidate.mustMove) {
      const needed = config.minGainPerCostSecond * costSeconds;
      if (best.gain <= needed) {
        skip(`best target ${best.host.name} reduces the load spread by ${best.gain.toFixed(4)}, not more than the cost ${needed.toFixed(4)} (${costSeconds.toFixed(1)} s x minGainPerCostSecond)`);
        continue;
      }
    }

    // Commit to the projection so later candidates see this move.
    const fromShare = cpuShare(vm, source);
    const toShare = cpuShare(vm, best.host);
    spread.apply(source.name, fromShare, best.host.name, toShare);
    const ps = projected.get(source.name)!;
    const pt = projected.get(best.host.name)!;
    ps.cpuRatio -= fromShare;
    ps.cpuRatioP90 -= fromShare;
    ps.memoryUsedBytes -= vm.memoryBytes;
    ps.vcpus -= vm.vcpus;
    ps.vmUuids.delete(vm.uuid);
    pt.cpuRatio += toShare;
    pt.cpuRatioP90 += toShare;
    pt.memoryUsedBytes += vm.memoryBytes;
    pt.vcpus += vm.vcpus;
    pt.vmUuids.add(vm.uuid);
    moves.push({
      vmName: vm.name,
      vmUuid: vm.uuid,
      from: source.name,
      to: best.host.name,
      technique: choice.technique,
      copyStorage: !vm.disksShared,
      predicted: choice.predicted,
      reason: `${candidate.reason}; to ${best.host.name} (score ${best.score.toFixed(2)}, imbalance ${imbalanceBefore.toFixed(3)} -> ${spread.value().toFixed(3)})`,
      gain: best.gain,
      inputs: { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured, downtimeBudgetMs: config.downtimeBudgetMs },
    });
  }

  return { basedOnObservedAtMs: state.observedAtMs, moves, skipped, imbalanceBefore, imbalanceAfter: spread.value(), policyErrors: errors };
}
