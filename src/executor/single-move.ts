/** One move outside the controller (benchmarks, scripts): open both hosts, run it, close. */
import { migrationSchema } from '../config/migration-schema.js';
import { LibvirtConnection } from '../libvirt/index.js';
import { silentLogger } from '../log/logger.js';
import type { Move, Prediction, Technique } from '../policy/plan-types.js';
import { runMigrationWithTls, type MigrationTlsMode } from './migration-tls.js';

export async function runSingleMove(
  move: { vmName: string; from: string; to: string; technique: Technique; predicted?: Prediction; inputs?: Move['inputs'] },
  options: {
    fromUri: string;
    toUri: string;
    bandwidthMiBps?: number;
    deadlineSeconds?: number;
    downtimeBudgetMs?: number;
    allowPostcopySwitch?: boolean;
    /** migration.tls for this move (default off). */
    tls?: MigrationTlsMode;
    /** The target's hosts[].migrationAddress. */
    toMigrationAddress?: string;
  },
): Promise<{
  ok: boolean;
  outcome: string;
  totalSeconds: number;
  downtimeMs?: number;
  bytes?: number;
  nonzeroMemoryBytes?: number;
  error?: string;
  tls: boolean;
}> {
  const source = await LibvirtConnection.open(options.fromUri);
  const target = await LibvirtConnection.open(options.toUri);
  try {
    const dom = await source.domainLookupByName(move.vmName);
    const config = migrationSchema.parse({
      deadlineSeconds: options.deadlineSeconds ?? 300,
      bandwidthMiBps: options.bandwidthMiBps ?? 0,
      tls: options.tls ?? 'off',
    });
    const result = await runMigrationWithTls(
      {
        vmName: move.vmName,
        vmUuid: dom.uuid,
        from: move.from,
        to: move.to,
        technique: move.technique,
        copyStorage: false,
        predicted: move.predicted ?? { totalSeconds: 0, downtimeMs: 0, bytes: 0, converges: true },
        reason: 'single move',
        gain: 0,
        inputs: move.inputs ?? {
          memoryBytes: 0,
          dirtyRateMiBps: 0,
          bandwidthMiBps: options.bandwidthMiBps ?? 0,
          downtimeBudgetMs: options.downtimeBudgetMs ?? 300,
        },
      },
      {
        source,
        target,
        targetUri: options.toUri,
        targetMigrationAddress: options.toMigrationAddress,
        tlsMode: config.tls,
        config,
        downtimeBudgetMs: options.downtimeBudgetMs ?? 300,
        allowPostcopySwitch: options.allowPostcopySwitch ?? false,
        logger: silentLogger(),
      },
    );
    return {
      ok: result.outcome === 'completed',
      outcome: result.outcome,
      totalSeconds: result.totalMs / 1000,
      downtimeMs: result.downtimeMs,
      bytes: result.bytes,
      nonzeroMemoryBytes: result.nonzeroMemoryBytes,
      error: result.error,
      tls: result.tls === true,
    };
  } finally {
    await source.close().catch(() => {});
    await target.close().catch(() => {});
  }
}
