/**
 * The `migration:` section of the config: admission limits, deadlines and per-technique tunables
 * the executor applies.
 */
import { z } from 'zod';

export const migrationSchema = z.strictObject({
  /** Migrations running at once across the cluster. */
  maxConcurrent: z.number().int().min(1).default(2),
  maxPerSourceHost: z.number().int().min(1).default(1),
  maxPerTargetHost: z.number().int().min(1).default(1),
  /** Sum of bandwidth limits of running migrations; 0 means no budget. */
  bandwidthBudgetMiBps: z.number().min(0).default(0),
  /** Bandwidth limit per migration; 0 means unlimited (libvirt's default). */
  bandwidthMiBps: z.number().min(0).default(0),
  /** Abort a migration that has not finished after this long. */
  deadlineSeconds: z.number().positive().default(300),
  /** How often a running job's stats are read. */
  pollIntervalMs: z.number().int().min(100).default(1000),
  /** Define the VM on the target (VIR_MIGRATE_PERSIST_DEST). */
  persistOnTarget: z.boolean().default(true),
  /** Undefine the VM on the source after success (VIR_MIGRATE_UNDEFINE_SOURCE). */
  undefineSource: z.boolean().default(true),
  /** Switch a pre-copy that is not converging to post-copy (when post-copy is allowed). */
  switchToPostcopyWhenStuck: z.boolean().default(true),
  /** Pre-copy is judged not converging after this many iterations without data remaining falling. */
  stuckAfterIterations: z.number().int().min(2).default(5),
  /** Raise libvirt's max downtime up to the policy's downtime budget when a job is close to converging. */
  raiseDowntimeWithinBudget: z.boolean().default(true),
  techniques: z
    .strictObject({
      precopy: z.strictObject({ maxDowntimeMs: z.number().int().positive().default(300) }).default({ maxDowntimeMs: 300 }),
      postcopy: z
        .strictObject({ postcopyBandwidthMiBps: z.number().min(0).default(0) })
        .default({ postcopyBandwidthMiBps: 0 }),
      hybrid: z
        .strictObject({ switchAfterIterations: z.number().int().min(1).default(1) })
        .default({ switchAfterIterations: 1 }),
      autoconverge: z
        .strictObject({
          initialPercent: z.number().int().min(1).max(99).default(20),
          incrementPercent: z.number().int().min(1).max(99).default(10),
        })
        .default({ initialPercent: 20, incrementPercent: 10 }),
      xbzrle: z.strictObject({ cacheMiB: z.number().int().min(1).default(64) }).default({ cacheMiB: 64 }),
      multifd: z.strictObject({ connections: z.number().int().min(2).max(255).default(2) }).default({ connections: 2 }),
    })
    .default({
      precopy: { maxDowntimeMs: 300 },
      postcopy: { postcopyBandwidthMiBps: 0 },
      hybrid: { switchAfterIterations: 1 },
      autoconverge: { initialPercent: 20, incrementPercent: 10 },
      xbzrle: { cacheMiB: 64 },
      multifd: { connections: 2 },
    }),
});

export type MigrationConfig = z.infer<typeof migrationSchema>;
