/**
 * The planning engine: plan(state) -> Plan, touching no network, so the same code runs live, in
 * `plan` (dry-run), in the simulator, in benchmarks and in tests.
 *
 * The engine owns the objective (objective.ts: weighted spread and hot-spot excess of CPU and
 * memory, before vs after, against the migration's predicted cost), hysteresis, the spread
 * tolerance and its hold, cooldown, capacity and anti-ping-pong; policies own candidates,
 * constraints and preferences.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import { policySchema, type PolicyConfig } from '../config/policy-schema.js';
import type { Candidate, PolicyContext, ProjectedHost } from './api.js';
import { chooseTechnique, type ChooserTunables } from './chooser.js';
import { defaultPolicies, type LoadedPolicy } from './loader.js';
import { freeHugepagesOf, hugepageShortfall, ordinaryMemoryBytes, projectMemoryMove } from './memory-fit.js';
import { vmBoundReason } from './vm-bound.js';
import { Objective, RESOURCES, type MoveDelta, type Resource } from './objective.js';
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
  /** Cost-model tunables from the migration config (chooser.ts tunablesFromMigrationConfig). */
  tunables?: Partial<ChooserTunables>;
  /** Real / predicted ratios of past moves per pair and technique (PredictionCalibration.factors). */
  calibration?: (from: string, to: string, technique: Technique) => { timeFactor: number; downtimeFactor: number };
  /** Override of config.maxMovesPerTick (drain uses a large value). */
  maxMoves?: number;
  /** Kept by a caller that plans every tick, for policy.spread.holdTicks (see PlanMemory). */
  memory?: PlanMemory;
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

/**
 * What plan() remembers from one tick to the next when the caller keeps it (the controller, the
 * simulator and the trace replay do): how many consecutive plans each host has been a spread
 * source, for policy.spread.holdTicks. A one-shot plan (the `plan` command) has none and treats the
 * hold as met, so it shows the moves `run` makes once the hold is over.
 */
export interface PlanMemory {
  /** Host name -> consecutive plans above the spread tolerance. */
  spreadHeldTicks: Map<string, number>;
}

export function newPlanMemory(): PlanMemory {
  return { spreadHeldTicks: new Map() };
}

/** Spread balancing as configured: the aggressiveness level's defaults, overridden by explicit knobs. */
export interface SpreadSettings {
  enabled: boolean;
  /** Points above the cluster mean (as a ratio, 0.2 = 20 points) that make a host a spread source. */
  tolerance: number;
  holdTicks: number;
  /** Objective reduction a spread move must buy on top of its migration cost. */
  minGain: number;
}

const SPREAD_PRESETS: Record<number, { tolerancePercent: number; holdTicks: number; minGain: number }> = {
  1: { tolerancePercent: 100, holdTicks: 1, minGain: 0 },
  // 3 (the default) was chosen on the PlanetLab replay (docs/benchmarks.md): a smaller margin
  // bought little less overload for many more migrations on the 800-host cluster.
  2: { tolerancePercent: 30, holdTicks: 6, minGain: 0.15 },
  3: { tolerancePercent: 20, holdTicks: 3, minGain: 0.08 },
  4: { tolerancePercent: 12, holdTicks: 2, minGain: 0.02 },
  5: { tolerancePercent: 6, holdTicks: 1, minGain: 0.002 },
};

export function spreadSettings(config: PolicyConfig): SpreadSettings {
  const s = config.spread;
  const preset = SPREAD_PRESETS[s.aggressiveness] ?? SPREAD_PRESETS[3];
  return {
    // Consolidating packs on purpose: spreading would undo it.
    enabled: s.enabled && s.aggressiveness > 1 && config.goal !== 'consolidate',
    tolerance: (s.tolerancePercent ?? preset.tolerancePercent) / 100,
    holdTicks: s.holdTicks ?? preset.holdTicks,
    minGain: s.minGain ?? preset.minGain,
  };
}

/** Targets whose filters and scores are asked at once, best objective gain first (see plan()). */
const TARGET_BATCH = 16;
/** Targets tried when estimating a candidate's best gain per cost, to order candidates. */
const ESTIMATE_TARGETS = 8;

const MiB = 2 ** 20;

/** Why a VM in a state other than running is not moved (libvirt's domain states). */
function stateReason(vm: VmObservation, mustMove: boolean): string {
  if (!mustMove) return `not running (${vm.state}); only running VMs move to balance load`;
  switch (vm.state) {
    case 'crashed':
      return 'crashed: libvirt cannot migrate a crashed domain; destroy it (virsh destroy) so it is shut off and moves cold, or start it again so it moves live';
    case 'pmsuspended':
      return 'suspended by its guest (pmsuspended): libvirt cannot migrate it; wake it (virsh dompmwakeup) and it moves live';
    default:
      return `in state ${vm.state}, which libvirt cannot migrate; it stays`;
  }
}

/**
 * Plan this tick's moves (touches no network). Steps: project host load (migrations in flight
 * count as done); collect candidates from the policies' select (must-moves first, the others by
 * estimated objective gain per second of migration, best first); for each, find the targets hard
 * limits allow (plus soft filters unless it is a must-move), take the best-scoring of the best-gain
 * targets, choose the technique, and keep the move when it is a must-move or its gain beats its
 * predicted cost. Policy failures become plan.policyErrors, never exceptions.
 */
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
  // One pass over the VMs: every per-host question below reads this, never state.vms again.
  const vmsByHost = new Map<string, VmObservation[]>();
  for (const vm of state.vms) {
    const list = vmsByHost.get(vm.host);
    if (list) list.push(vm);
    else vmsByHost.set(vm.host, [vm]);
  }
  const placement = new Map(state.vms.map((v) => [v.uuid, v.host]));
  const cpuShare = (vm: VmObservation, host: HostObservation) => (host.cpuCount > 0 ? (vm.cpuUtilization.mean * vm.vcpus) / host.cpuCount : 0);
  const memoryShare = (vm: VmObservation, host: HostObservation) => (host.memoryTotalBytes > 0 ? ordinaryMemoryBytes(vm) / host.memoryTotalBytes : 0);
  const delta = (vm: VmObservation, from: HostObservation, to: HostObservation): MoveDelta => ({
    fromCpu: cpuShare(vm, from),
    toCpu: cpuShare(vm, to),
    fromMemory: memoryShare(vm, from),
    toMemory: memoryShare(vm, to),
  });
  const projected = new Map<string, ProjectedHost>();
  for (const host of state.hosts) {
    const vms = vmsByHost.get(host.name) ?? [];
    let vcpus = 0;
    for (const v of vms) vcpus += v.vcpus;
    projected.set(host.name, {
      host,
      cpuRatio: host.cpuUtilization.mean,
      cpuRatioP90: Math.max(host.cpuUtilization.p90, host.cpuUtilization.mean),
      memoryUsedBytes: host.memoryUsedBytes,
      freeHugepages: freeHugepagesOf(host),
      vcpus,
      vmUuids: new Set(vms.map((v) => v.uuid)),
    });
  }
  // Forecast: the window's linear trend, from its mean and last sample (for samples on a line the
  // mean sits (n-1)/2 steps before the last), projected aheadTicks past the last sample. Only a
  // rising trend counts: a falling one must not hide a host that is hot now.
  const forecastOffset = new Map<string, number>();
  if (config.forecast.enabled) {
    for (const host of state.hosts) {
      const w = host.cpuUtilization;
      if (w.samples < 2) continue;
      // The least-squares slope when the window gives one, else the trend from mean to last.
      const slope = w.slopePerSample ?? (w.last - w.mean) / ((w.samples - 1) / 2);
      const offset = slope * ((w.samples - 1) / 2 + config.forecast.aheadTicks);
      if (offset > 0) forecastOffset.set(host.name, offset);
    }
  }
  const weights = { cpu: config.objective.cpuWeight, memory: config.objective.memoryWeight, hotSpot: config.objective.hotSpotWeight };
  const thresholds = {
    cpuHigh: config.cpuHighPercent / 100,
    cpuLow: config.cpuLowPercent / 100,
    memoryHigh: config.memoryHighPercent / 100,
    hysteresis: config.hysteresisPercent / 100,
  };
  const counted = state.hosts.filter((h) => h.up && !h.maintenance);
  const objective = new Objective(
    counted.map((h) => ({ name: h.name, cpu: h.cpuUtilization.mean, memory: h.memoryTotalBytes > 0 ? h.memoryUsedBytes / h.memoryTotalBytes : 0, cpuForecastOffset: forecastOffset.get(h.name) ?? 0 })),
    weights,
    { cpu: thresholds.cpuHigh, memory: thresholds.memoryHigh },
  );
  const imbalanceBefore = objective.cpuStdDev();
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
    objective.apply(source.name, target.name, { fromCpu: fromShare, toCpu: toShare, fromMemory: 0, toMemory: 0 });
    const ps = projected.get(source.name)!;
    const pt = projected.get(target.name)!;
    ps.cpuRatio -= fromShare;
    ps.cpuRatioP90 -= fromShare;
    ps.vmUuids.delete(vm.uuid);
    pt.cpuRatio += toShare;
    pt.cpuRatioP90 += toShare;
    pt.vcpus += vm.vcpus;
    pt.vmUuids.add(vm.uuid);
    placement.set(vm.uuid, target.name);
  }
  const objectiveBefore = objective.value();
  // Above by more than float noise: loads summed from VM shares (0.8 x 5 / 4 = 1.0000000000000002)
  // must not keep a host that is exactly at a threshold "above" it.
  const epsilon = 1e-9;
  const forecastCpu = (name: string) => (projected.get(name)?.cpuRatio ?? 0) + (forecastOffset.get(name) ?? 0);
  const above = (name: string, cpuLimit: number, memoryLimit: number) => {
    const p = projected.get(name);
    if (!p || !p.host.up) return { cpu: false, memory: false };
    return { cpu: forecastCpu(name) > cpuLimit + epsilon, memory: p.host.memoryTotalBytes > 0 && p.memoryUsedBytes / p.host.memoryTotalBytes > memoryLimit + epsilon };
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

  // Spread: a host more than the tolerance above the cluster mean in a weighted resource, held for
  // holdTicks plans, gives VMs away until it is within the tolerance less hysteresis.
  const spread = spreadSettings(config);
  const spreadAtStart = new Map<string, { resources: Resource[]; reason: string }>();
  if (spread.enabled && objective.size > 1) {
    for (const h of counted) {
      const resources: Resource[] = [];
      const parts: string[] = [];
      for (const r of RESOURCES) {
        if (objective.weight(r) === 0) continue;
        const dev = objective.ratio(r, h.name)! - objective.mean(r);
        if (dev > spread.tolerance + epsilon) {
          resources.push(r);
          parts.push(`${r === 'cpu' ? 'CPU' : 'memory'} ${(objective.ratio(r, h.name)! * 100).toFixed(0)}% is ${(dev * 100).toFixed(0)} points above the cluster mean ${(objective.mean(r) * 100).toFixed(0)}%`);
        }
      }
      if (resources.length > 0) spreadAtStart.set(h.name, { resources, reason: `spread: host ${h.name} ${parts.join(', ')} (tolerance ${(spread.tolerance * 100).toFixed(0)})` });
    }
  }
  const held = new Map<string, number>();
  for (const name of spreadAtStart.keys()) held.set(name, (options.memory?.spreadHeldTicks.get(name) ?? 0) + 1);
  if (options.memory) options.memory.spreadHeldTicks = held;
  const spreadSource = (name: string): string | undefined => {
    const s = spreadAtStart.get(name);
    if (!s) return undefined;
    const ticks = held.get(name) ?? 0;
    if (options.memory && ticks < spread.holdTicks) return undefined;
    return s.reason;
  };
  const needsSpreadRelief = (name: string) => {
    const s = spreadSource(name) && spreadAtStart.get(name);
    if (!s) return false;
    return s.resources.some((r) => objective.ratio(r, name)! - objective.mean(r) > spread.tolerance - thresholds.hysteresis + epsilon);
  };
  const spreadWaiting = [...spreadAtStart.keys()].filter((name) => !spreadSource(name));

  const contextFor = (loaded: LoadedPolicy): PolicyContext => ({
    state,
    config,
    options: loaded.options,
    thresholds,
    host: (name) => hostsByName.get(name),
    vm: (uuid) => vmsByUuid.get(uuid),
    projected: (name) => projected.get(name),
    overloaded,
    spreadSource,
    forecastCpu,
    vmsOn: (name) => vmsByHost.get(name) ?? [],
    placeOf: (uuid) => placement.get(uuid),
    cpuShare,
    nowMs,
  });
  const contexts = new Map(policies.map((p) => [p, contextFor(p)]));

  // 1. Candidates from every policy's select; a must-move from any policy wins.
  const candidates = new Map<string, Candidate & { policy: string }>();
  for (const loaded of policies) {
    if (!loaded.policy.select) continue;
    try {
      const selected = await callPolicy(loaded, 'select', config.policyTimeoutMs, errors, {}, () => loaded.policy.select!(contexts.get(loaded)!), isCandidates);
      for (const c of selected) {
        const vm = vmsByUuid.get(c.vm.uuid);
        if (!vm) continue;
        const existing = candidates.get(vm.uuid);
        // A must-move wins over the rest, and relief (neither must nor pack) over a packing move.
        const rank = (x: Candidate) => (x.mustMove ? 2 : x.pack ? 0 : 1);
        if (!existing || rank(c) > rank(existing)) candidates.set(vm.uuid, { vm, reason: c.reason, mustMove: c.mustMove, pack: !c.mustMove && c.pack, policy: loaded.policy.name });
      }
    } catch (e) {
      if (!(e instanceof PolicyFailure)) throw e;
    }
  }

  // 2. Order: must-moves as nominated; the others by estimated gain per second of migration
  // against the few least-loaded hosts (cheap: no policy is asked), so the cheapest relief goes first.
  const loadKey = (h: HostObservation) => weights.cpu * (objective.ratio('cpu', h.name) ?? 0) + weights.memory * (objective.ratio('memory', h.name) ?? 0);
  const lightest = [...counted].sort((a, b) => loadKey(a) - loadKey(b));
  const estimateSeconds = (vm: VmObservation) => {
    const inputs = moveInputs(vm, config, options.bandwidthLimitMiBps);
    return Math.max(0.1, (inputs.memoryBytes + inputs.localDiskBytes) / (inputs.bandwidthMiBps * MiB));
  };
  const estimate = (vm: VmObservation): number => {
    const source = hostsByName.get(vm.host);
    if (!source) return -Infinity;
    let best = -Infinity;
    let tried = 0;
    for (const target of lightest) {
      if (target.name === source.name) continue;
      best = Math.max(best, objective.gain(source.name, target.name, delta(vm, source, target)));
      if (++tried >= ESTIMATE_TARGETS) break;
    }
    return best / estimateSeconds(vm);
  };
  const must = [...candidates.values()].filter((c) => c.mustMove);
  const others = [...candidates.values()].filter((c) => !c.mustMove && !c.pack).map((c) => ({ c, e: estimate(c.vm) }));
  others.sort((a, b) => b.e - a.e);
  // Packing moves last, in the order their policy nominated them (host by host), after relief.
  const packs = [...candidates.values()].filter((c) => c.pack);
  const ordered = [...must, ...others.map((o) => o.c), ...packs];
  const inFlight = new Set(state.inFlight.map((m) => m.vmUuid));
  // History by VM, once (failures in order, so the newest per target wins; moves oldest first, the
  // first match as before).
  const failuresByVm = new Map<string, NonNullable<ClusterState['recentFailures']>>();
  for (const f of state.recentFailures ?? []) failuresByVm.set(f.vmUuid, [...(failuresByVm.get(f.vmUuid) ?? []), f]);
  const movesByVm = new Map<string, ClusterState['recentMoves']>();
  for (const m of state.recentMoves) movesByVm.set(m.vmUuid, [...(movesByVm.get(m.vmUuid) ?? []), m]);

  for (const candidate of ordered) {
    const vm = candidate.vm;
    const mustMove = Boolean(candidate.mustMove);
    const pack = Boolean(candidate.pack);
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
    if (!mustMove && movedAt !== undefined && nowMs - movedAt < config.cooldownSeconds * 1000) {
      skip(`moved ${((nowMs - movedAt) / 1000).toFixed(0)} s ago; cooldown ${config.cooldownSeconds} s`);
      continue;
    }
    const bound = vmBoundReason(vm, state, nowMs);
    if (bound) {
      skip(bound);
      continue;
    }
    // Running (and blocked, a running domain waiting on a resource) move live; paused ones live
    // only when they must (they stay paused on the target); shut-off ones cold when they must.
    const running = vm.state === 'running' || vm.state === 'blocked';
    const live = running || (vm.state === 'paused' && mustMove);
    const cold = vm.state === 'shutoff' && mustMove;
    if (!live && !cold) {
      skip(stateReason(vm, mustMove));
      continue;
    }
    const source = hostsByName.get(vm.host);
    if (!source) continue;
    const hotRelief = needsRelief(source.name);
    if (!mustMove && !pack && !hotRelief && !needsSpreadRelief(source.name)) {
      skip(`host ${source.name} is no longer above the thresholds (less hysteresis) nor the spread tolerance after the moves planned before it`);
      continue;
    }
    // A spread move (the source is not hot) must also buy the margin.
    const margin = mustMove || pack || hotRelief ? 0 : spread.minGain;
    const neededEstimate = mustMove || pack ? -Infinity : config.minGainPerCostSecond * estimateSeconds(vm) + margin;

    // This VM's recent failures (newest per target) and the hosts it left lately, looked up per target below.
    const failuresOf = new Map<string, NonNullable<ClusterState['recentFailures']>[number]>();
    for (const f of failuresByVm.get(vm.uuid) ?? []) if (nowMs - f.atMs < config.retryAfterFailureSeconds * 1000) failuresOf.set(f.to, f);
    const leftAt = new Map<string, ClusterState['recentMoves'][number]>();
    for (const m of movesByVm.get(vm.uuid) ?? []) if (!leftAt.has(m.from) && nowMs - m.atMs < config.cooldownSeconds * 3000) leftAt.set(m.from, m);

    // Targets: the engine's own hard limits first (cheap), then the objective's gain.
    const rejections: string[] = [];
    const open: { host: HostObservation; gain: number; d: MoveDelta }[] = [];
    let bestLowGain: { host: HostObservation; gain: number } | undefined;
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
      const memoryLimit = target.memoryTotalBytes * target.memoryOvercommitRatio;
      if (p.memoryUsedBytes + ordinaryMemoryBytes(vm) > memoryLimit) {
        rejections.push(`${target.name} lacks memory (${Math.max(0, (memoryLimit - p.memoryUsedBytes) / MiB).toFixed(0)} MiB free, ${vm.name} needs ${(ordinaryMemoryBytes(vm) / MiB).toFixed(0)} MiB)`);
        continue;
      }
      const pagesShort = hugepageShortfall(vm, p);
      if (pagesShort) {
        rejections.push(pagesShort);
        continue;
      }
      if (p.vcpus + vm.vcpus > target.cpuCount * target.cpuOvercommitRatio) {
        rejections.push(`${target.name} would exceed its vCPU overcommit (${p.vcpus + vm.vcpus} vCPUs, limit ${target.cpuCount * target.cpuOvercommitRatio})`);
        continue;
      }
      const failed = failuresOf.get(target.name);
      if (failed) {
        rejections.push(`a move of ${vm.name} to ${target.name} ended ${failed.outcome} ${((nowMs - failed.atMs) / 1000).toFixed(0)} s ago${failed.error ? ` (${failed.error.slice(0, 120)})` : ''}; retried after ${config.retryAfterFailureSeconds} s`);
        continue;
      }
      const back = !mustMove && leftAt.get(target.name);
      if (back) {
        rejections.push(`${vm.name} left ${target.name} ${((nowMs - back.atMs) / 1000).toFixed(0)} s ago (no ping-pong)`);
        continue;
      }
      const d = delta(vm, source, target);
      const gain = objective.gain(source.name, target.name, d);
      if (gain <= neededEstimate) {
        if (!bestLowGain || gain > bestLowGain.gain) bestLowGain = { host: target, gain };
        continue;
      }
      open.push({ host: target, gain, d });
    }
    // Consolidating: the fullest targets first (the policies' filters keep them under the target
    // utilisation), so relief and packing fill running hosts before waking an empty one.
    if (config.goal === 'consolidate' && !mustMove) open.sort((a, b) => projected.get(b.host.name)!.cpuRatioP90 - projected.get(a.host.name)!.cpuRatioP90);
    else open.sort((a, b) => b.gain - a.gain);

    // Policies judge the best-gain targets a batch at a time; the first batch with an accepted
    // target decides (asking every policy about every host costs too much at thousands of hosts).
    let failedPolicy = false;
    const feasible: { host: HostObservation; score: number; gain: number; d: MoveDelta }[] = [];
    for (let at = 0; at < open.length && feasible.length === 0 && !failedPolicy; at += TARGET_BATCH) {
      for (const { host: target, gain, d } of open.slice(at, at + TARGET_BATCH)) {
        let rejected: string | undefined;
        let weighted = 0;
        let weightSum = 0;
        try {
          for (const loaded of policies) {
            if (!loaded.policy.filter || (mustMove && loaded.policy.softFilter)) continue;
            const ctx = contexts.get(loaded)!;
            const verdict = await callPolicy(loaded, 'filter', config.policyTimeoutMs, errors, { vm: vm.name, host: target.name }, () => loaded.policy.filter!(vm, target, ctx), isFilterResult);
            if (verdict !== true) {
              rejected = `${loaded.policy.name}: ${verdict}`;
              break;
            }
          }
          if (!rejected) {
            for (const loaded of policies) {
              if (!loaded.policy.score || loaded.weight === 0) continue;
              const ctx = contexts.get(loaded)!;
              const score = await callPolicy(loaded, 'score', config.policyTimeoutMs, errors, { vm: vm.name, host: target.name }, () => loaded.policy.score!(vm, target, ctx), isScore);
              weighted += Math.min(1, Math.max(0, score)) * loaded.weight;
              weightSum += loaded.weight;
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
        feasible.push({ host: target, score: weightSum > 0 ? weighted / weightSum : 0, gain, d });
      }
    }
    if (failedPolicy) {
      skip('a policy failed while judging it (see policy errors); no move depends on a failed policy');
      continue;
    }
    if (feasible.length === 0) {
      if (rejections.length === 0 && bestLowGain) {
        skip(`best target ${bestLowGain.host.name} reduces the objective by ${bestLowGain.gain.toFixed(4)}, not more than the cost ${neededEstimate.toFixed(4)} (${estimateSeconds(vm).toFixed(1)} s x minGainPerCostSecond${margin > 0 ? ` + spread margin ${margin}` : ''})`);
        continue;
      }
      const shown = [...new Set(rejections)].slice(0, 3).join('; ');
      const more = rejections.length > 3 ? ` (+${rejections.length - 3} more)` : '';
      const lowGain = bestLowGain ? `; the other targets gain too little (best ${bestLowGain.host.name}: ${bestLowGain.gain.toFixed(4)})` : '';
      skip(`no eligible target${mustMove ? ' within the hard limits' : ''}: ${shown || 'no other host'}${more}${lowGain}`);
      continue;
    }
    feasible.sort((a, b) => b.score - a.score || b.gain - a.gain);
    const best = feasible[0];

    // How it moves: a paused guest moves live but never by post-copy (post-copy needs the guest
    // running on the target to pull its pages); a shut-off one only cold.
    let allowed: readonly Technique[] = cold
      ? config.allowedTechniques.filter((t) => t === 'cold')
      : config.allowedTechniques.filter((t) => t !== 'cold' && (running || (t !== 'postcopy' && t !== 'hybrid')));
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
      skip((cold ? 'shut off and cold migration is not allowed' : 'no live technique allowed (policy.allowedTechniques and technique policies)') + why);
      continue;
    }
    const { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured, localDiskBytes } = moveInputs(vm, config, options.bandwidthLimitMiBps, options.linkBandwidthMiBps?.(vm.host, best.host.name));
    const choice = chooseTechnique({
      memoryBytes,
      dirtyRateMiBps,
      bandwidthMiBps,
      downtimeBudgetMs: config.downtimeBudgetMs,
      allowed,
      running: !cold,
      localDiskBytes,
      calibration: options.calibration && ((t: Technique) => options.calibration!(vm.host, best.host.name, t)),
      tunables: options.tunables,
    });
    if (!choice.predicted.converges) {
      // A shut-off VM's only technique is refused for a reason of its own (local disks), not convergence.
      const own = cold ? choice.alternatives.find((a) => a.technique === 'cold')?.rejected : undefined;
      skip(own ?? `no allowed technique (${allowed.join(', ')}) converges within the ${config.downtimeBudgetMs} ms downtime budget at ${dirtyRateMiBps.toFixed(0)} MiB/s dirty rate and ${bandwidthMiBps.toFixed(0)} MiB/s${bandwidthMeasured ? ` (measured ${vm.host} -> ${best.host.name})` : ''}`);
      continue;
    }
    const costSeconds = choice.predicted.totalSeconds + choice.predicted.downtimeMs / 1000;
    if (!mustMove && !pack) {
      const needed = config.minGainPerCostSecond * costSeconds + margin;
      if (best.gain <= needed) {
        skip(`best target ${best.host.name} reduces the objective by ${best.gain.toFixed(4)}, not more than the cost ${needed.toFixed(4)} (${costSeconds.toFixed(1)} s x minGainPerCostSecond${margin > 0 ? ` + spread margin ${margin}` : ''})`);
        continue;
      }
    }

    // Commit to the projection so later candidates see this move.
    const objectiveWas = objective.value();
    objective.apply(source.name, best.host.name, best.d);
    const ps = projected.get(source.name)!;
    const pt = projected.get(best.host.name)!;
    ps.cpuRatio -= best.d.fromCpu;
    ps.cpuRatioP90 -= best.d.fromCpu;
    projectMemoryMove(vm, ps, pt);
    ps.vcpus -= vm.vcpus;
    ps.vmUuids.delete(vm.uuid);
    pt.cpuRatio += best.d.toCpu;
    pt.cpuRatioP90 += best.d.toCpu;
    pt.vcpus += vm.vcpus;
    pt.vmUuids.add(vm.uuid);
    placement.set(vm.uuid, best.host.name);
    moves.push({
      vmName: vm.name,
      vmUuid: vm.uuid,
      from: source.name,
      to: best.host.name,
      technique: choice.technique,
      copyStorage: !vm.disksShared,
      predicted: choice.predicted,
      reason: `${candidate.policy}: ${candidate.reason}; to ${best.host.name} (score ${best.score.toFixed(2)}, objective ${objectiveWas.toFixed(4)} -> ${objective.value().toFixed(4)}, CPU imbalance ${imbalanceBefore.toFixed(3)} -> ${objective.cpuStdDev().toFixed(3)})`,
      gain: best.gain,
      inputs: { memoryBytes, dirtyRateMiBps, bandwidthMiBps, bandwidthMeasured, downtimeBudgetMs: config.downtimeBudgetMs },
    });
  }
  for (const name of spreadWaiting) {
    skipped.push({ vmName: `(host ${name})`, reason: `${spreadAtStart.get(name)!.reason}; held ${held.get(name)} of ${spread.holdTicks} ticks (policy.spread.holdTicks) before spread moves start` });
  }

  return { basedOnObservedAtMs: state.observedAtMs, moves, skipped, imbalanceBefore, imbalanceAfter: objective.cpuStdDev(), objectiveBefore, objectiveAfter: objective.value(), policyErrors: errors };
}
