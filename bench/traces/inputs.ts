/** The trace-replay benchmark inputs (bench/inputs/traces.json), validated so a typo names its field. */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const hostTypeSchema = z.object({
  name: z.string(),
  cores: z.number().int().positive(),
  coreMips: z.number().positive(),
  memoryMiB: z.number().positive(),
  powerWattsAt0To100Percent: z.array(z.number().nonnegative()).length(11),
});

const vmTypeSchema = z.object({
  name: z.string(),
  mips: z.number().positive(),
  memoryMiB: z.number().positive(),
});

export const traceBenchInputsSchema = z.object({
  description: z.string().optional(),
  tracesDir: z.string(),
  days: z.array(z.string().regex(/^\d{8}$/)).min(1),
  quickDays: z.array(z.string().regex(/^\d{8}$/)).min(1),
  seed: z.number().int(),
  sampleSeconds: z.number().positive(),
  scenarios: z
    .array(
      z.object({
        name: z.string().regex(/^[a-z0-9-]+$/),
        hostCount: z.number().int().positive(),
        /** Overrides every host type's memory when set. */
        hostMemoryMiB: z.number().positive().optional(),
        /** Overrides the VM types' memory (one figure per type, in order), e.g. CloudSim's code's figures. */
        vmMemoryMiB: z.array(z.number().positive()).optional(),
        /**
         * `hard` (default): VM memory is reserved on its host all day, a move to a host without it is refused.
         * `initial-placement-only`: reserved for the start only, as CloudSim 3.0.3 does with the
         * PlanetLab workload (its cloudlets' RAM model is UtilizationModelNull, so once a VM is
         * created Vm.getCurrentRequestedRam() is 0 and no later placement checks or reserves RAM).
         */
        memoryLimit: z.enum(['hard', 'initial-placement-only']).optional(),
        why: z.string().optional(),
      }),
    )
    .min(1),
  hostTypes: z.array(hostTypeSchema).min(1),
  vmTypes: z.array(vmTypeSchema).min(1),
  networkMbps: z.number().positive(),
  migrationBandwidthShare: z.number().gt(0).lte(1),
  migrationDegradationRatio: z.number().min(0).max(1),
  initialPlacement: z.object({
    method: z.enum(['memory-first-fit-decreasing', 'round-robin']),
    why: z.string().optional(),
  }),
  windowSamples: z.number().int().positive(),
  windowSamplesWhy: z.string().optional(),
  baselines: z.object({
    cpuThresholdRatio: z.number().gt(0),
    /** 0 = no limit. */
    maxMovesPerTick: z.number().int().min(0),
  }),
  engine: z.object({
    /** vCPU overcommit the engine may place up to (CloudSim limits only MIPS, so keep it loose). */
    cpuOvercommitRatio: z.number().positive(),
    /** Overrides merged over the engine's default policy config. */
    policyConfig: z.record(z.string(), z.unknown()),
    policyConfigWhy: z.string().optional(),
    /** Days the default policy's settings were chosen on (the paired comparison reports the others as held out). */
    tuningDays: z.array(z.string().regex(/^\d{8}$/)).optional(),
    /** The engine again with these settings merged over policyConfig, as balancer `virt-balancer+NAME` (e.g. the forecast trigger on). */
    variants: z
      .array(
        z.object({
          name: z.string().regex(/^[a-z0-9-]+$/),
          policyConfig: z.record(z.string(), z.unknown()),
          why: z.string().optional(),
          /** Samples in the engine's window for this variant (default: windowSamples). */
          windowSamples: z.number().int().positive().optional(),
          /** Scenarios this variant runs in (default: all). */
          scenarios: z.array(z.string()).optional(),
          /** Days its settings were chosen on (the paired comparison reports the others as held out). */
          tuningDays: z.array(z.string().regex(/^\d{8}$/)).optional(),
        }),
      )
      .optional(),
  }),
});

export type TraceBenchInputs = z.infer<typeof traceBenchInputsSchema>;
export type HostType = z.infer<typeof hostTypeSchema>;
export type VmType = z.infer<typeof vmTypeSchema>;
export type TraceScenario = TraceBenchInputs['scenarios'][number];

/** The cluster a scenario describes: its host count and host types (memory overridden if set). */
/** The VM types a scenario uses (memory overridden if set). */
export function scenarioVmTypes(inputs: TraceBenchInputs, scenario: TraceScenario): VmType[] {
  const override = scenario.vmMemoryMiB;
  if (!override) return inputs.vmTypes;
  if (override.length !== inputs.vmTypes.length)
    throw new Error(`scenario "${scenario.name}": vmMemoryMiB has ${override.length} figures for ${inputs.vmTypes.length} VM types; give one per type`);
  return inputs.vmTypes.map((t, i) => ({ ...t, memoryMiB: override[i] }));
}

export function scenarioCluster(inputs: TraceBenchInputs, scenario: TraceScenario): { hostCount: number; hostTypes: HostType[] } {
  return {
    hostCount: scenario.hostCount,
    hostTypes: inputs.hostTypes.map((t) => (scenario.hostMemoryMiB === undefined ? t : { ...t, memoryMiB: scenario.hostMemoryMiB })),
  };
}

export async function loadTraceBenchInputs(path: string): Promise<TraceBenchInputs> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`benchmark inputs "${path}" cannot be read as JSON: ${(error as Error).message}`);
  }
  const parsed = traceBenchInputsSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`benchmark inputs "${path}" are invalid: ${issues}`);
  }
  return parsed.data;
}
