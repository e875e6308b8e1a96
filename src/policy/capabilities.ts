/**
 * Which migration features a pair of hosts can use, from the libvirt and QEMU versions their
 * daemons report at connect (virConnectGetLibVersion, virConnectGetVersion; both encoded as
 * major * 1,000,000 + minor * 1,000 + micro). The planner offers only techniques both ends
 * support, and the executor never sends a flag or typed parameter the daemon lacks: an old
 * daemon refuses an unknown flag with VIR_ERR_INVALID_ARG at the migration's start.
 *
 * Versions come from libvirt's and QEMU's own docs (the "Since:" tags of libvirt-domain.h,
 * QEMU's migration capability docs); see docs/techniques.md#versions.
 */
import type { Technique } from './plan-types.js';

/** A daemon's versions; undefined where unknown (the simulator, or a daemon that would not say). */
export interface DaemonVersions {
  /** libvirt version, major * 1e6 + minor * 1e3 + micro. */
  libvirtVersion?: number;
  /** Hypervisor (QEMU) version, same encoding. */
  hypervisorVersion?: number;
}

export type MigrationFeature =
  /** VIR_MIGRATE_POSTCOPY and virDomainMigrateStartPostCopy. */
  | 'postcopy'
  /** VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY ("bandwidth.postcopy"). */
  | 'postcopyBandwidth'
  /** VIR_MIGRATE_POSTCOPY_RESUME: recovery of a post-copy whose connection broke. */
  | 'postcopyResume'
  /**
   * QEMU's postcopy-preempt capability (a separate channel for page faults, so a faulting vCPU
   * does not wait behind the background stream). libvirt has no flag for it: since 8.5 it turns it
   * on by itself with VIR_MIGRATE_POSTCOPY when both QEMUs support it (qemu_migration_params.c,
   * the optional capability of the POSTCOPY flag map entry); QEMU made it stable in 8.0.
   */
  | 'postcopyPreempt'
  /** VIR_MIGRATE_PARALLEL (multifd). */
  | 'multifd'
  /** VIR_MIGRATE_PARAM_COMPRESSION "zstd" with VIR_MIGRATE_PARALLEL, and "compression.zstd.level". */
  | 'multifdZstd'
  /** VIR_MIGRATE_ZEROCOPY (zero-copy send; multifd only, Linux). */
  | 'zeroCopy'
  /** VIR_MIGRATE_TLS: the stream (and an NBD storage copy) over QEMU's TLS. */
  | 'migrationTls';

/** [libvirt, QEMU] minimum versions, each major * 1e6 + minor * 1e3. */
const MINIMUMS: Record<MigrationFeature, { libvirt: number; qemu: number; source: string }> = {
  postcopy: { libvirt: 1_003_003, qemu: 2_005_000, source: 'libvirt-domain.h VIR_MIGRATE_POSTCOPY Since 1.3.3' },
  postcopyBandwidth: { libvirt: 5_001_000, qemu: 3_000_000, source: 'libvirt-domain.h VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY Since 5.1.0' },
  postcopyResume: { libvirt: 8_005_000, qemu: 3_000_000, source: 'libvirt-domain.h VIR_MIGRATE_POSTCOPY_RESUME Since 8.5.0' },
  postcopyPreempt: { libvirt: 8_005_000, qemu: 8_000_000, source: 'libvirt qemu_migration_params.c optional postcopy-preempt; QEMU 8.0 dropped the x- prefix' },
  multifd: { libvirt: 5_002_000, qemu: 4_000_000, source: 'libvirt-domain.h VIR_MIGRATE_PARALLEL Since 5.2.0' },
  multifdZstd: {
    libvirt: 9_004_000,
    qemu: 5_000_000,
    source: 'libvirt-domain.h VIR_MIGRATE_PARAM_COMPRESSION_ZSTD_LEVEL Since 9.4.0; QEMU multifd-compression zstd since 5.0',
  },
  zeroCopy: { libvirt: 8_005_000, qemu: 7_001_000, source: 'libvirt-domain.h VIR_MIGRATE_ZEROCOPY Since 8.5.0; QEMU zero-copy-send since 7.1' },
  migrationTls: { libvirt: 3_002_000, qemu: 2_007_000, source: 'libvirt-domain.h VIR_MIGRATE_TLS Since 3.2.0; QEMU migration parameter tls-creds since 2.7' },
};

/**
 * libvirt releases where a feature exists but must not be used. [from, before) in libvirt's
 * version encoding.
 */
const KNOWN_DEFECTS: { feature: MigrationFeature; fromLibvirt: number; beforeLibvirt: number; why: string }[] = [
  {
    // libvirt 11.3.0 src/qemu/qemu_migration.c: qemuMigrationDstPrepareResume passes fd = NULL to
    // qemuMigrationDstPrepare, and qemuProcessIncomingDefNew (qemu_process.c, reworked in 11.2.0 for
    // the sparse save format) dereferences *fd: every VIR_MIGRATE_POSTCOPY_RESUME segfaults the
    // destination's libvirtd (seen in the lab with virsh and with our client alike). 11.4+ not checked.
    feature: 'postcopyResume',
    fromLibvirt: 11_002_000,
    beforeLibvirt: 11_004_000,
    why: 'post-copy recovery crashes the destination libvirtd (NULL fd in qemuMigrationDstPrepareResume)',
  },
];

/** The oldest libvirt this controller supports (proven in the lab on 9.0 and 11.3). */
export const MIN_SUPPORTED_LIBVIRT_VERSION = 9_000_000;

/** "11.3.0" from 11003000. */
export function formatVersion(v: number): string {
  return `${Math.floor(v / 1e6)}.${Math.floor((v % 1e6) / 1e3)}.${v % 1e3}`;
}

function meets(v: number | undefined, min: number): boolean {
  return v === undefined || v >= min;
}

/**
 * Why one daemon cannot use a feature, or undefined when it can. Unknown versions count as able
 * (the simulator has none; a live daemon always reports its libvirt version).
 */
export function featureMissing(feature: MigrationFeature, daemon: DaemonVersions): string | undefined {
  const min = MINIMUMS[feature];
  if (!meets(daemon.libvirtVersion, min.libvirt)) return `libvirt ${formatVersion(daemon.libvirtVersion!)} < ${formatVersion(min.libvirt)}`;
  if (!meets(daemon.hypervisorVersion, min.qemu)) return `QEMU ${formatVersion(daemon.hypervisorVersion!)} < ${formatVersion(min.qemu)}`;
  const v = daemon.libvirtVersion;
  const defect = v === undefined ? undefined : KNOWN_DEFECTS.find((d) => d.feature === feature && v >= d.fromLibvirt && v < d.beforeLibvirt);
  if (defect) return `libvirt ${formatVersion(v!)}: ${defect.why}`;
  return undefined;
}

/** The features both ends of a move support. */
export function pairFeatures(source: DaemonVersions, target: DaemonVersions): Set<MigrationFeature> {
  const out = new Set<MigrationFeature>();
  for (const f of Object.keys(MINIMUMS) as MigrationFeature[]) if (!featureMissing(f, source) && !featureMissing(f, target)) out.add(f);
  return out;
}

/** What each technique needs beyond a plain live migration. */
const TECHNIQUE_NEEDS: Partial<Record<Technique, MigrationFeature>> = { postcopy: 'postcopy', hybrid: 'postcopy', multifd: 'multifd' };

/**
 * Techniques a move between these two daemons can use, and for the rest the reason
 * ("multifd: lab1 has libvirt 5.1.0 < 5.2.0").
 */
export function techniquesFor(
  techniques: readonly Technique[],
  source: DaemonVersions & { name: string },
  target: DaemonVersions & { name: string },
): { usable: Technique[]; unusable: { technique: Technique; reason: string }[] } {
  const usable: Technique[] = [];
  const unusable: { technique: Technique; reason: string }[] = [];
  for (const technique of techniques) {
    const need = TECHNIQUE_NEEDS[technique];
    const missing =
      need &&
      (featureMissing(need, source)
        ? { host: source.name, why: featureMissing(need, source)! }
        : featureMissing(need, target)
          ? { host: target.name, why: featureMissing(need, target)! }
          : undefined);
    if (missing) unusable.push({ technique, reason: `${technique}: ${missing.host} has ${missing.why}` });
    else usable.push(technique);
  }
  return { usable, unusable };
}
