/**
 * One plan's working set, built once from the observed state and the options: indexed views
 * (projection.ts), the projection of moves planned so far, which hosts still need relief
 * (relief.ts), the VMs' decision history (core-filters.ts) and the policy framework with the
 * context each policy sees. plan() (engine.ts) and evaluateTargets (targets.ts) both start here.
 */
import type { ClusterState, HostObservation, VmObservation } from '../cluster/model.js';
import type { MigrationConfig } from '../config/migration-schema.js';
import { ordinaryMemoryBytes } from './memory-fit.js';
import { policySchema, type PolicyConfig } from '../config/policy-schema.js';
import type { PolicyContext } from './api.js';
import type { ChooserTunables } from './chooser.js';
import { HistoryIndex } from './core-filters.js';
import { type HeadroomHost, headroomShortfall } from './headroom.js';
import { PolicyFramework } from './framework.js';
import { defaultPolicies, type LoadedPolicy } from './loader.js';
import type { Technique } from './plan-types.js';
import { ClusterIndex, cpuShare, Projection } from './projection.js';
import { Relief, type PlanMemory } from './relief.js';
import { TargetIndex } from './target-index.js';

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
  /** A VM's memory that was not zero pages when it last moved, bytes (history/learned.ts); undefined when unknown. */
  nonzeroMemoryBytes?: (vmUuid: string) => number | undefined;
  /** Real / predicted ratios of past moves per pair and technique (PredictionCalibration.factors). */
  calibration?: (from: string, to: string, technique: Technique) => { timeFactor: number; downtimeFactor: number };
  /** Override of config.maxMovesPerTick (drain uses a large value). */
  maxMoves?: number;
  /**
   * Plan only the candidates on this host (a drain): moves elsewhere, planned and then dropped,
   * would have shaped the projection the drain's targets were chosen on. Make-room moves for its
   * VMs still come (make-room.ts).
   */
  onlyFromHost?: string;
  /**
   * The migration budgets admission applies (scheduling.ts). With them, a planned move that would
   * wait for a budget (its source already sending, its target already receiving) does not take one
   * of the maxMovesPerTick slots: it is planned (and queued) beside up to that many moves that can
   * start now, and at most that many such waiting moves. Without them, every move takes a slot.
   */
  admission?: MigrationConfig;
  /** Kept by a caller that plans every tick, for policy.spread.holdTicks (see PlanMemory). */
  memory?: PlanMemory;
  /**
   * How targets are searched: `indexed` (default: target-index.ts, the same targets in the same
   * order without scoring every host for every move) or `exhaustive` (every host scored and sorted
   * per move: the reference the index is tested against, and the bench's "before").
   */
  targetSearch?: 'indexed' | 'exhaustive';
}

export const DEFAULT_CONFIG: PolicyConfig = policySchema.parse({});

export class Planning {
  readonly config: PolicyConfig;
  readonly nowMs: number;
  readonly index: ClusterIndex;
  readonly projection: Projection;
  readonly relief: Relief;
  readonly history: HistoryIndex;
  readonly framework: PolicyFramework;
  /** The objective and CPU imbalance once migrations in flight count as done, before any planned move. */
  readonly objectiveBefore: number;
  readonly imbalanceBefore: number;
  /** VMs with a migration under way. */
  readonly inFlightVms: ReadonlySet<string>;

  constructor(
    readonly state: ClusterState,
    readonly options: PlanOptions,
  ) {
    this.config = options.config ?? DEFAULT_CONFIG;
    this.nowMs = options.nowMs ?? state.observedAtMs;
    this.index = new ClusterIndex(state);
    this.inFlightVms = new Set(state.inFlight.map((m) => m.vmUuid));
    this.projection = new Projection(this.index, this.config);
    // Imbalance as observed (the metric); the objective with migrations in flight counted as done.
    this.imbalanceBefore = this.projection.objective.cpuStdDev();
    for (const m of state.inFlight) {
      const vm = this.index.vmsByUuid.get(m.vmUuid);
      const source = vm && this.index.hostsByName.get(vm.host);
      const target = this.index.hostsByName.get(m.to);
      if (vm && source && target && target !== source) this.projection.applyInFlight(vm, source, target);
    }
    this.objectiveBefore = this.projection.objective.value();
    this.relief = new Relief(this.projection, this.config, options.memory);
    this.history = new HistoryIndex(state, this.config, this.nowMs);
    this.framework = new PolicyFramework(options.policies ?? defaultPolicies(this.config), (loaded) => this.contextFor(loaded), this.config.policyTimeoutMs);
  }

  private headroomBeforeMemo: { shortfall: string | undefined } | undefined;

  /** Why the cluster lacks its failover headroom (policy.headroom) before this plan's moves; undefined when it has it. */
  get headroomBefore(): string | undefined {
    this.headroomBeforeMemo ??= { shortfall: headroomShortfall(this.headroomHosts(), this.config.headroom.hostFailures) };
    return this.headroomBeforeMemo.shortfall;
  }

  /**
   * The hosts as headroom sees them with the moves planned so far, and `vm` moved from `source`
   * (undefined: a new VM, `place`) to `target` when given.
   */
  headroomHosts(change?: { vm: VmObservation; source: HostObservation | undefined; target: HostObservation }): HeadroomHost[] {
    const { projection, index } = this;
    return this.state.hosts.map((host) => {
      const p = projection.host(host.name)!;
      let placedMemoryBytes = p.placedMemoryBytes;
      let vcpus = p.vcpus;
      const here = () => [...p.vmUuids].map((u) => index.vmsByUuid.get(u)).filter((v): v is VmObservation => v !== undefined && v.uuid !== change?.vm.uuid);
      let vms: () => readonly VmObservation[] = here;
      if (change?.source?.name === host.name) {
        placedMemoryBytes -= ordinaryMemoryBytes(change.vm);
        vcpus -= change.vm.vcpus;
      }
      if (change?.target.name === host.name) {
        placedMemoryBytes += ordinaryMemoryBytes(change.vm);
        vcpus += change.vm.vcpus;
        vms = () => [...here(), change.vm];
      }
      return { host, placedMemoryBytes, vcpus, vms };
    });
  }

  /**
   * Why moving `vm` to `target` (from `source`; undefined: a new VM, `place`) breaks the failover
   * headroom the cluster has, or undefined. Every host's failure is checked again with the move:
   * a move takes from its target room another host's failure may need, and a VM larger than any
   * room left fits nowhere even when the sums would. A cluster already below its headroom refuses
   * nothing for it (the plan says so instead), so relief is never held back by it.
   */
  headroomRefusal(vm: VmObservation, source: HostObservation | undefined, target: HostObservation): string | undefined {
    const k = this.config.headroom.hostFailures;
    if (k <= 0 || this.headroomBefore) return undefined;
    const after = headroomShortfall(this.headroomHosts({ vm, source, target }), k);
    return after ? `${vm.name} on ${target.name} would break the failover headroom: ${after}` : undefined;
  }

  private targetIndexBuilt: TargetIndex | undefined;

  /** The hosts indexed for the target search, built at first use and kept current by the projection. */
  get targetIndex(): TargetIndex {
    this.targetIndexBuilt ??= new TargetIndex(this.projection);
    return this.targetIndexBuilt;
  }

  /** What one policy sees: the state, its options and the indexed, projected views. */
  private contextFor(loaded: LoadedPolicy): PolicyContext {
    const { index, projection, relief } = this;
    return {
      state: this.state,
      config: this.config,
      options: loaded.options,
      thresholds: projection.thresholds,
      host: (name) => index.hostsByName.get(name),
      vm: (uuid) => index.vmsByUuid.get(uuid),
      projected: (name) => projection.host(name),
      overloaded: (name) => projection.overloaded(name),
      spreadSource: (name) => relief.spreadSource(name),
      forecastCpu: (name) => projection.forecastCpu(name),
      vmsOn: (name) => index.vmsOn(name),
      placeOf: (uuid) => projection.placeOf(uuid),
      cpuShare,
      cpuP90With: (vm, name) => projection.cpuP90With(vm, name),
      notice: (message) => this.framework.notice(loaded.policy.name, message),
      nowMs: this.nowMs,
    };
  }
}
