/**
 * The policy framework (modelled on the Kubernetes scheduler framework's runtime/framework.go):
 * it owns the loops over the policies at each extension point (select, filter, score, technique),
 * the per-call timeout, turning throws, garbage and timeouts into plan errors, and the time each
 * policy takes. A policy only implements its extension points (api.ts); the engine asks the
 * framework one question per step and never loops over policies itself.
 */
import { inspect } from 'node:util';
import type { HostObservation, VmObservation } from '../cluster/model.js';
import type { Candidate, PolicyContext } from './api.js';
import type { LoadedPolicy } from './loader.js';
import type { Plan, Technique } from './plan-types.js';
import { TECHNIQUES } from './plan-types.js';
import { PolicyTimeoutError } from './policy-timeout.js';

export type ExtensionPoint = 'select' | 'filter' | 'score' | 'technique';
type PolicyError = Plan['policyErrors'][number];
export type PolicyTimeout = NonNullable<Plan['timeouts']>[number];
export type PolicyTiming = NonNullable<Plan['policyTimings']>[number];

/** A candidate with the policy that nominated it. */
export type SelectedCandidate = Candidate & { policy: string };

/** What the policies say about one target for one VM. */
export type Verdict = { accepted: true; score: number } | { accepted: false; policy: string; reason: string } | { failed: true };

class PolicyFailure extends Error {}

const isFilterResult = (v: unknown): v is true | string => v === true || (typeof v === 'string' && v.length > 0);
const isScore = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCandidates = (v: unknown): v is Candidate[] =>
  Array.isArray(v) &&
  v.every((c) => c && typeof c === 'object' && typeof (c as Candidate).vm?.uuid === 'string' && typeof (c as Candidate).reason === 'string');
const isTechniques = (v: unknown): v is readonly Technique[] | undefined =>
  v === undefined || (Array.isArray(v) && v.every((t) => (TECHNIQUES as readonly unknown[]).includes(t)));

function describe(value: unknown): string {
  // inspect, not JSON: JSON says null for NaN and Infinity (a policy returning NaN was reported as
  // "returned null"), and inspect escapes control characters in strings.
  return inspect(value, { depth: 2, breakLength: Number.POSITIVE_INFINITY, maxArrayLength: 10, maxStringLength: 60 }).slice(0, 80);
}

export class PolicyFramework {
  /** Calls that threw, timed out or returned garbage (Plan.policyErrors). */
  readonly errors: PolicyError[] = [];
  /** Calls that ran past policy.policyTimeoutMs (Plan.timeouts): also in errors. */
  readonly timeouts: PolicyTimeout[] = [];
  /** What a policy said cannot be done as its rule asks (Plan.notices), each message once. */
  readonly notices: { source: string; message: string }[] = [];

  /** Record a notice once (PolicyContext.notice, and the engine's own as source "engine"). */
  notice(source: string, message: string): void {
    if (!this.notices.some((n) => n.source === source && n.message === message)) this.notices.push({ source, message });
  }
  private readonly timings = new Map<string, PolicyTiming>();
  private readonly contexts: Map<LoadedPolicy, PolicyContext>;

  /**
   * @param policies in config order (the order filters are asked and ties broken).
   * @param contextFor the context one policy sees (its own options).
   * @param timeoutMs policy.policyTimeoutMs: a call taking longer is reported and its answer ignored.
   */
  constructor(
    private readonly policies: readonly LoadedPolicy[],
    contextFor: (loaded: LoadedPolicy) => PolicyContext,
    private readonly timeoutMs: number,
  ) {
    this.contexts = new Map(policies.map((p) => [p, contextFor(p)]));
  }

  /** Time spent in each policy's extension points so far, for the plan and metrics. */
  policyTimings(): PolicyTiming[] {
    return [...this.timings.values()];
  }

  /**
   * Candidates from every policy's select, in policy order; a must-move from any policy wins over
   * the same VM nominated without. `resolve` maps a candidate to this plan's observation of it
   * (undefined drops it: a VM the state does not hold).
   */
  async select(resolve: (c: Candidate) => VmObservation | undefined): Promise<SelectedCandidate[]> {
    const candidates = new Map<string, SelectedCandidate>();
    for (const loaded of this.policies) {
      const select = loaded.policy.select;
      if (!select) continue;
      const ctx = this.contexts.get(loaded)!;
      const selected = await this.call(loaded, 'select', {}, () => select.call(loaded.policy, ctx), isCandidates).catch(this.failed);
      for (const c of selected ?? []) {
        const vm = resolve(c);
        if (!vm) continue;
        const existing = candidates.get(vm.uuid);
        // A must-move wins over the rest, and relief (neither must nor pack) over a packing move.
        const rank = (x: Candidate) => (x.mustMove ? 2 : x.pack ? 0 : 1);
        if (!existing || rank(c) > rank(existing))
          candidates.set(vm.uuid, { vm, reason: c.reason, mustMove: c.mustMove, pack: !c.mustMove && c.pack, policy: loaded.policy.name });
      }
    }
    return [...candidates.values()];
  }

  /**
   * Filters (in policy order, the first refusal wins; soft filters are not asked for a must-move),
   * then the weighted mean of the scores (each clamped to 0..1) of policies with a non-zero weight.
   */
  async judge(vm: VmObservation, target: HostObservation, mustMove: boolean): Promise<Verdict> {
    const where = { vm: vm.name, host: target.name };
    try {
      for (const loaded of this.policies) {
        const filter = loaded.policy.filter;
        if (!filter || (mustMove && loaded.policy.softFilter)) continue;
        const ctx = this.contexts.get(loaded)!;
        const verdict = await this.call(loaded, 'filter', where, () => filter.call(loaded.policy, vm, target, ctx), isFilterResult);
        if (verdict !== true) return { accepted: false, policy: loaded.policy.name, reason: `${loaded.policy.name}: ${verdict}` };
      }
      let weighted = 0;
      let weightSum = 0;
      for (const loaded of this.policies) {
        const score = loaded.policy.score;
        if (!score || loaded.weight === 0) continue;
        const ctx = this.contexts.get(loaded)!;
        const value = await this.call(loaded, 'score', where, () => score.call(loaded.policy, vm, target, ctx), isScore);
        weighted += Math.min(1, Math.max(0, value)) * loaded.weight;
        weightSum += loaded.weight;
      }
      return { accepted: true, score: weightSum > 0 ? weighted / weightSum : 0 };
    } catch (e) {
      this.failed(e);
      return { failed: true };
    }
  }

  /** `allowed` narrowed by every technique policy in turn; undefined when one failed. */
  async techniques(vm: VmObservation, allowed: readonly Technique[], target: HostObservation): Promise<readonly Technique[] | undefined> {
    let left = allowed;
    try {
      for (const loaded of this.policies) {
        const technique = loaded.policy.technique;
        if (!technique) continue;
        const ctx = this.contexts.get(loaded)!;
        const now = left;
        const narrowed = await this.call(
          loaded,
          'technique',
          { vm: vm.name, host: target.name },
          () => technique.call(loaded.policy, vm, now, ctx),
          isTechniques,
        );
        if (narrowed) left = left.filter((t) => narrowed.includes(t));
      }
      return left;
    } catch (e) {
      this.failed(e);
      return undefined;
    }
  }

  /** A PolicyFailure was already reported; anything else is our bug and is rethrown. */
  private readonly failed = (e: unknown): undefined => {
    if (!(e instanceof PolicyFailure)) throw e;
    return undefined;
  };

  /** One extension-point call: errors, garbage and timeouts are reported and become PolicyFailure. */
  private async call<T>(
    loaded: LoadedPolicy,
    point: ExtensionPoint,
    where: { vm?: string; host?: string },
    fn: () => T | Promise<T>,
    valid: (value: unknown) => value is T,
  ): Promise<T> {
    const name = loaded.policy.name;
    const started = performance.now();
    const report = (message: string, timedOut: boolean): PolicyFailure => {
      this.errors.push({ policy: name, ...where, message });
      if (timedOut) this.timeouts.push({ policy: name, point, ...where, timeoutMs: this.timeoutMs, message });
      return new PolicyFailure();
    };
    let value: unknown;
    try {
      const result = fn();
      if (result instanceof Promise) {
        let timer: NodeJS.Timeout | undefined;
        value = await Promise.race([
          result,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new PolicyTimeoutError(`timed out after ${this.timeoutMs} ms (policy.policyTimeoutMs)`)), this.timeoutMs);
          }),
        ]).finally(() => clearTimeout(timer));
      } else value = result;
    } catch (error) {
      throw report(`${point} threw: ${(error as Error)?.message ?? String(error)}`, error instanceof PolicyTimeoutError);
    } finally {
      this.time(name, point, performance.now() - started);
    }
    // A built-in runs in-process and its answer is already computed: dropping it for the wall
    // time a busy machine took would make the plan depend on machine load (its time is in
    // policyTimings and the metrics). Other policies past the limit are reported and ignored.
    const elapsed = performance.now() - started;
    if (elapsed > this.timeoutMs && loaded.source !== 'built-in')
      throw report(`${point} took ${elapsed.toFixed(0)} ms, over policy.policyTimeoutMs (${this.timeoutMs} ms)`, true);
    if (!valid(value)) throw report(`${point} returned ${describe(value)}, which is not what ${point} must return`, false);
    return value;
  }

  private time(policy: string, point: ExtensionPoint, ms: number): void {
    const key = `${policy}\0${point}`;
    const t = this.timings.get(key);
    if (t) {
      t.calls++;
      t.ms += ms;
    } else this.timings.set(key, { policy, point, calls: 1, ms });
  }
}
