/**
 * The `migration:` section of the config: admission limits, deadlines and per-technique tunables
 * the executor applies.
 */
import { z } from 'zod';
import { milliseconds, seconds } from './durations.js';

export const migrationSchema = z.strictObject({
  /** Migrations running at once across the cluster. */
  maxConcurrent: z.number().int().min(1).default(2).describe('Migrations running at once across the cluster.'),
  maxPerSourceHost: z
    .number()
    .int()
    .min(1)
    .default(1)
    .describe("Each host's sending budget, in cost units (a live move costs 1, a storage copy costs.storageCopyHost): migrations leaving one host at once."),
  maxPerTargetHost: z
    .number()
    .int()
    .min(1)
    .default(1)
    .describe("Each host's receiving budget, in cost units (a live move costs 1): migrations arriving at one host at once."),
  /**
   * Per-host budgets (docs/scheduling.md): a live move costs 1 against its source's `send`, its
   * target's `receive` and each end's `network` budget. Unset fields take maxPerSourceHost,
   * maxPerTargetHost and networkBudget.
   */
  hostBudgets: z
    .record(
      z.string(),
      z.strictObject({
        send: z.number().int().min(1).optional().describe('Cost units this host may send at once (a live move costs 1); default maxPerSourceHost.'),
        receive: z.number().int().min(1).optional().describe('Cost units this host may receive at once; default maxPerTargetHost.'),
        network: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe("Moves its migration network carries at once (either end); default networkBudget, else from the link's measured bandwidth."),
      }),
    )
    .default({})
    .describe(
      'Per-host migration budgets, by host name (hosts[].name): `{ send, receive, network }`, each optional, overriding maxPerSourceHost, maxPerTargetHost and networkBudget for that host (cost units: a live move costs 1). Moves over a budget wait in a queue.',
    ),
  /** Moves one host's migration network carries at once; unset: derived from the measured link bandwidth (vSphere: 4 on 1 GbE, 8 on 10 GbE). */
  networkBudget: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      "Moves one host's migration network carries at once (as source or target). Unset: from the link's measured bandwidth, as vSphere sizes it: 4 below 10 GbE (and while not measured), 8 at 10 GbE and above.",
    ),
  /** Cost units one datastore carries at once (vSphere's datastore budget, 128). */
  datastoreBudget: z
    .number()
    .int()
    .min(1)
    .default(128)
    .describe(
      "Cost units one datastore carries at once (vSphere's 128): a live move of a VM on shared storage costs costs.liveDatastore against it, a storage copy costs.storageCopyDatastore against each end's local storage.",
    ),
  /** What a move costs against the budgets (vSphere's figures as the default). */
  costs: z
    .strictObject({
      storageCopyHost: z
        .number()
        .int()
        .min(1)
        .default(4)
        .describe(
          "What a move that copies local disks costs against its source's and target's host budgets (a live move costs 1; vSphere charges a Storage vMotion 4).",
        ),
      liveDatastore: z.number().int().min(0).default(1).describe('What a live move of a VM on shared storage costs against that datastore (vSphere: 1).'),
      storageCopyDatastore: z
        .number()
        .int()
        .min(1)
        .default(16)
        .describe("What a storage copy costs against each end's local datastore (vSphere: 16 for a Storage vMotion)."),
    })
    .default({ storageCopyHost: 4, liveDatastore: 1, storageCopyDatastore: 16 })
    .describe('What one move costs against the budgets; a move costing more than a whole budget runs alone on that resource.'),
  /** Sum of bandwidth limits of running migrations; 0 means no budget. */
  bandwidthBudgetMiBps: z.number().min(0).default(0).describe('Sum of bandwidth limits of running migrations; 0 means no budget.'),
  /** Bandwidth limit per migration; 0 means unlimited (libvirt's default). */
  bandwidthMiBps: z.number().min(0).default(0).describe("Bandwidth limit per migration; 0 means unlimited (libvirt's default)."),
  /** Slack on top of a move's predicted time; the move is aborted when it runs past both. */
  deadlineSeconds: seconds()
    .positive()
    .default(300)
    .describe(
      "Abort a migration still running this long after its predicted time (predicted seconds + this; a prediction that does not converge adds nothing). Watched through libvirt's job stats, whatever the migration's length.",
    ),
  /** Encrypt the migration stream with QEMU's native TLS (VIR_MIGRATE_TLS). */
  tls: z
    .enum(['off', 'preferred', 'required'])
    .default('off')
    .describe(
      "Encrypt migration streams with QEMU's native TLS (VIR_MIGRATE_TLS; each host's certificates in qemu.conf migrate_tls_x509_cert_dir, default /etc/pki/qemu). off: plaintext; preferred: TLS, and plaintext for a pair whose hosts refuse TLS (logged); required: a move between hosts that cannot do TLS is refused before any memory is sent, naming the host and what is missing. Local disks copied with the move (NBD) go over the same TLS.",
    ),
  /** How often a running job's stats are read. */
  pollIntervalMs: milliseconds().int().min(100).default(1000).describe("How often a running job's stats are read."),
  /** Define the VM on the target (VIR_MIGRATE_PERSIST_DEST). */
  persistOnTarget: z.boolean().default(true).describe('Define the VM on the target (VIR_MIGRATE_PERSIST_DEST).'),
  /** Undefine the VM on the source after success (VIR_MIGRATE_UNDEFINE_SOURCE). */
  undefineSource: z.boolean().default(true).describe('Undefine the VM on the source after success (VIR_MIGRATE_UNDEFINE_SOURCE).'),
  /** Switch a pre-copy that is not converging to post-copy (when post-copy is allowed). */
  switchToPostcopyWhenStuck: z.boolean().default(true).describe('Switch a pre-copy that is not converging to post-copy (when post-copy is allowed).'),
  /** Pre-copy is judged not converging after this many iterations without data remaining falling. */
  stuckAfterIterations: z
    .number()
    .int()
    .min(2)
    .default(5)
    .describe('Pre-copy is judged not converging after this many iterations without data remaining falling.'),
  /** Raise libvirt's max downtime up to the policy's downtime budget when a job is close to converging. */
  raiseDowntimeWithinBudget: z
    .boolean()
    .default(true)
    .describe("Raise libvirt's max downtime up to the policy's downtime budget when a job is close to converging."),
  techniques: z
    .strictObject({
      precopy: z
        .strictObject({ maxDowntimeMs: milliseconds().int().positive().default(300).describe("libvirt's max downtime for the final pre-copy round, ms.") })
        .default({ maxDowntimeMs: 300 })
        .describe('Pre-copy: copy memory while the guest runs, round after round, then pause it for the rest.'),
      postcopy: z
        .strictObject({
          postcopyBandwidthMiBps: z
            .number()
            .min(0)
            .default(0)
            .describe(
              'Bandwidth limit after the switch to post-copy; 0 means the same as the pre-copy limit (bandwidthMiBps, or the measured link), unlimited only when that is unlimited too.',
            ),
        })
        .default({ postcopyBandwidthMiBps: 0 })
        .describe('Post-copy: run the guest on the target after one pass and fetch the rest on demand.'),
      hybrid: z
        .strictObject({ switchAfterIterations: z.number().int().min(1).default(1).describe('Pre-copy iterations before the switch to post-copy.') })
        .default({ switchAfterIterations: 1 })
        .describe('Hybrid: pre-copy pass(es), then post-copy.'),
      autoconverge: z
        .strictObject({
          initialPercent: z.number().int().min(1).max(99).default(20).describe('vCPU throttle when auto-converge starts.'),
          incrementPercent: z.number().int().min(1).max(99).default(10).describe('Throttle added each time an iteration fails to converge.'),
        })
        .default({ initialPercent: 20, incrementPercent: 10 })
        .describe("Auto-converge: pre-copy that throttles the guest's vCPUs until it converges."),
      xbzrle: z
        .strictObject({ cacheMiB: z.number().int().min(1).default(64).describe('XBZRLE page cache size.') })
        .default({ cacheMiB: 64 })
        .describe('XBZRLE: pre-copy that sends re-dirtied pages as deltas.'),
      multifd: z
        .strictObject({
          connections: z.number().int().min(2).max(255).default(2).describe('Parallel migration streams.'),
          compression: z
            .enum(['none', 'zstd'])
            .default('none')
            .describe(
              'Compress each multifd stream with zstd (VIR_MIGRATE_PARAM_COMPRESSION "zstd"; libvirt >= 9.4 on both hosts, else sent uncompressed). Trades source and target CPU for bandwidth.',
            ),
          zstdLevel: z.number().int().min(0).max(20).default(1).describe('zstd level (0-20; 1 is fastest). Used when compression is zstd.'),
          zeroCopy: z
            .boolean()
            .default(false)
            .describe(
              'Zero-copy send (VIR_MIGRATE_ZEROCOPY; libvirt >= 8.5, QEMU >= 7.1, Linux): QEMU locks the queued guest pages in host memory. Not combined with compression.',
            ),
        })
        .superRefine((m, ctx) => {
          // QEMU refuses zero-copy send with compression (migration/options.c: "Zero copy only available for non-compressed non-TLS multifd migration").
          if (m.zeroCopy && m.compression !== 'none')
            ctx.addIssue({
              code: 'custom',
              path: ['zeroCopy'],
              message: `cannot be combined with compression: ${m.compression} (QEMU sends zero-copy only uncompressed); choose one: zeroCopy: false, or compression: none`,
            });
        })
        .default({ connections: 2, compression: 'none', zstdLevel: 1, zeroCopy: false })
        .describe('Multifd: pre-copy over several parallel streams.'),
    })
    .default({
      precopy: { maxDowntimeMs: 300 },
      postcopy: { postcopyBandwidthMiBps: 0 },
      hybrid: { switchAfterIterations: 1 },
      autoconverge: { initialPercent: 20, incrementPercent: 10 },
      xbzrle: { cacheMiB: 64 },
      multifd: { connections: 2, compression: 'none', zstdLevel: 1, zeroCopy: false },
    })
    .describe('Per-technique tunables the executor applies.'),
});

export type MigrationConfig = z.infer<typeof migrationSchema>;
