/**
 * The `policy:` section of the config: thresholds, the objective's trade-offs, which policies run
 * and with what weight, and the inputs of the technique chooser.
 */
import { z } from 'zod';

export const TECHNIQUE_NAMES = ['precopy', 'postcopy', 'hybrid', 'autoconverge', 'xbzrle', 'multifd', 'cold'] as const;

const percent = z.number().min(0).max(100);

export const policyEntrySchema = z.strictObject({
  /** Policy name: a built-in from policies/ or a module found in one of policyDirs. */
  name: z.string().min(1),
  enabled: z.boolean().default(true),
  /** Weight of this policy's score among all scoring policies. */
  weight: z.number().min(0).default(1),
  /** Free-form options handed to the policy. */
  options: z.record(z.string(), z.unknown()).default({}),
});

export const affinityGroupSchema = z.strictObject({
  name: z.string().min(1),
  /** `affinity`: keep together on one host; `anti-affinity`: never two on one host. */
  type: z.enum(['affinity', 'anti-affinity']),
  vms: z.array(z.string().min(1)).min(2),
});

export const policySchema = z
  .strictObject({
    /** A host above this CPU utilisation (smoothed) is overloaded. */
    cpuHighPercent: percent.default(80),
    /** Consolidation empties hosts below this CPU utilisation. */
    cpuLowPercent: percent.default(20),
    memoryHighPercent: percent.default(85),
    /** A host must fall this far below a threshold before it counts as normal again. */
    hysteresisPercent: percent.default(5),
    /** Policies to run, in order, with weights. */
    policies: z
      .array(policyEntrySchema)
      .default([
        { name: 'balance', enabled: true, weight: 1, options: {} },
        { name: 'capacity', enabled: true, weight: 1, options: {} },
        { name: 'maintenance', enabled: true, weight: 1, options: {} },
        { name: 'pin', enabled: true, weight: 1, options: {} },
        { name: 'affinity', enabled: true, weight: 1, options: {} },
        { name: 'cpu-compat', enabled: true, weight: 1, options: {} },
      ]),
    /** Extra directories to load policy modules from (besides the built-in policies/). */
    policyDirs: z.array(z.string()).default([]),
    /** A policy call that takes longer than this is reported and its verdict ignored. */
    policyTimeoutMs: z.number().int().positive().default(1000),
    /** A VM that moved is left alone this long. */
    cooldownSeconds: z.number().min(0).default(600),
    maxMovesPerTick: z.number().int().min(0).default(2),
    /** A move must reduce the load spread (sum of squared deviations of host CPU ratios) by at least this much per predicted migration second. */
    minGainPerCostSecond: z.number().min(0).default(0.002),
    /** Longest pause of the guest the chooser may plan for. */
    downtimeBudgetMs: z.number().positive().default(300),
    /** Migration bandwidth the cost model assumes when nothing better is known. */
    bandwidthMiBps: z.number().positive().default(1000),
    allowedTechniques: z.array(z.enum(TECHNIQUE_NAMES)).min(1).default([...TECHNIQUE_NAMES]),
    /** Seconds of libvirt's dirty-rate calculation for a candidate VM. */
    dirtyRateMeasureSeconds: z.number().int().min(1).max(60).default(1),
    affinityGroups: z.array(affinityGroupSchema).default([]),
    /** VMs (by name) that never move. */
    pinnedVms: z.array(z.string()).default([]),
    /** VMs (by name) the balancer neither moves nor counts as movable. */
    ignoredVms: z.array(z.string()).default([]),
  })
  .refine((p) => p.cpuLowPercent < p.cpuHighPercent, {
    message: 'cpuLowPercent must be below cpuHighPercent',
    path: ['cpuLowPercent'],
  });

export type PolicyConfig = z.infer<typeof policySchema>;
