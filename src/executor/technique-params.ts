/**
 * What a technique means to libvirt: migrate flags and typed parameters for a peer-to-peer
 * migration, from the move and the migration config. Pure, so it is unit-tested.
 */
import { listenAddressFor, migrationUriForAddress } from '../config/migration-address.js';
import type { MigrationConfig } from '../config/migration-schema.js';
import { DomainState, domainStateName, MigrateFlags, type MigrationParams } from '../libvirt/index.js';
import type { MigrationFeature } from '../policy/capabilities.js';
import { PRECOPY_FAMILY, type Technique } from '../policy/plan-types.js';

export interface MigrationRecipe {
  flags: number;
  params: MigrationParams;
  /** When to start post-copy ourselves: never, right away, or after this many pre-copy passes. */
  postcopy: { mode: 'never' } | { mode: 'immediately' } | { mode: 'afterIterations'; iterations: number } | { mode: 'whenStuck' };
  /**
   * A multifd move under a cap: the whole move's cap, MiB/s. It starts with the cap split over its
   * channels (params.bandwidthMiBps) and adapt.ts raises that limit while the move's bytes stay
   * within the cap (cap-governor.ts): the split alone held multifd to 0.6-0.8 of the cap, and a
   * guest dirtying half the cap did not converge (the oracle grid, issue 31).
   */
  multifdCapMiBps?: number;
  /**
   * A move that switches to post-copy at once under a cap: the cap, MiB/s, while QEMU's post-copy
   * limit (params.bandwidthPostcopyMiBps) starts at POSTCOPY_START_FRACTION of it; adapt.ts's cap
   * governor raises it as the budget allows.
   */
  postcopyCapMiBps?: number;
}

/**
 * Where a post-copy from the start begins, as a fraction of the cap. The pages the guest faults in
 * at once (everything it runs on) come outside the limit, before the cap governor's first sample a
 * poll interval later: on the oracle grid a 3.4 s post-copy of a 128 MiB guest under 24 MiB/s
 * started at the cap and ended at 1.11 of it. Half the cap leaves that burst room; the governor
 * raises the limit from its next sample while the move stays within the cap.
 */
export const POSTCOPY_START_FRACTION = 0.5;

/** The address migration data should go to: the host part of the target's libvirt URI. */
export function migrationUriFor(targetLibvirtUri: string): string | undefined {
  const match = /^[a-z0-9+]+:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?]+)/i.exec(targetLibvirtUri);
  return match?.[1] ? `tcp://${match[1]}` : undefined;
}

/**
 * Can the VM's move have a post-copy phase? Only a running guest (RUNNING, or BLOCKED: running but
 * waiting on I/O): post-copy resumes the guest on the target, and libvirt refuses VIR_MIGRATE_POSTCOPY
 * for a paused domain. `undefined` (state not known: a job adopted after a restart) is taken as running.
 */
export function postcopyPossibleFor(sourceState: number | undefined): boolean {
  return sourceState === undefined || sourceState === DomainState.RUNNING || sourceState === DomainState.BLOCKED;
}

/** Why a post-copy or hybrid move of a VM in `sourceState` cannot start, or undefined when it can. */
export function postcopyRefusal(technique: Technique, vmName: string, sourceState: number | undefined): string | undefined {
  if (technique !== 'postcopy' && technique !== 'hybrid') return undefined;
  if (postcopyPossibleFor(sourceState)) return undefined;
  const state = sourceState === undefined ? 'not running' : (domainStateName(sourceState) ?? `in state ${sourceState}`);
  return `VM ${vmName} is ${state}: it moves only by a pre-copy-family technique (${PRECOPY_FAMILY.join(', ')}), not ${technique}; the move was not started`;
}

/**
 * libvirt's migrate flags, typed parameters and post-copy plan for `technique`.
 * Throws when asked for post-copy or hybrid for a VM that is not running (callers refuse it first: postcopyRefusal).
 */
export function recipeFor(
  technique: Technique,
  options: {
    /**
     * DomainState of the VM on the source, read right before the call (start.ts prepareMove);
     * absent: not known, taken as running. A VM that is not running never gets VIR_MIGRATE_POSTCOPY.
     */
    sourceState?: number;
    config: MigrationConfig;
    targetLibvirtUri: string;
    copyStorage: boolean;
    /** Target devs of the disks to copy (libvirt's `migrate_disks`); empty: nothing to copy; absent: libvirt's default set. */
    migrateDisks?: readonly string[];
    allowPostcopySwitch: boolean;
    bandwidthMiBps?: number;
    /** What both daemons support (capabilities.ts pairFeatures); absent: everything. */
    features?: ReadonlySet<MigrationFeature>;
    /** Encrypt the stream (VIR_MIGRATE_TLS); local disks copied over NBD go over the same TLS. */
    tls?: boolean;
    /** The target's hosts[].migrationAddress: where its QEMU listens and the source sends the stream. */
    targetMigrationAddress?: string;
  },
): MigrationRecipe {
  const { config } = options;
  // A caller that skipped postcopyRefusal must not reach libvirt with a flag it refuses.
  if ((technique === 'postcopy' || technique === 'hybrid') && !postcopyPossibleFor(options.sourceState))
    throw new Error(
      `no ${technique} recipe for a VM that is not running (state ${domainStateName(options.sourceState!) ?? options.sourceState}): refuse the move first`,
    );
  const can = (f: MigrationFeature) => !options.features || options.features.has(f);
  let flags = MigrateFlags.PEER2PEER;
  if (technique !== 'cold') flags |= MigrateFlags.LIVE | MigrateFlags.ABORT_ON_ERROR;
  else flags |= MigrateFlags.OFFLINE;
  if (config.persistOnTarget || technique === 'cold') flags |= MigrateFlags.PERSIST_DEST;
  if (config.undefineSource) flags |= MigrateFlags.UNDEFINE_SOURCE;
  const params: MigrationParams = {};
  // Name the disks: libvirt's default set also includes network disks (rbd, iscsi), which are shared.
  if (options.copyStorage && technique !== 'cold' && (options.migrateDisks === undefined || options.migrateDisks.length > 0)) {
    flags |= MigrateFlags.NON_SHARED_DISK;
    if (options.migrateDisks) params.migrateDisks = [...options.migrateDisks];
  }
  if (technique !== 'cold') {
    if (options.targetMigrationAddress !== undefined) {
      // Without the listen address the target's QEMU binds qemu.conf's migration_address (or all
      // addresses) and the stream could not be confined to the migration network.
      params.uri = migrationUriForAddress(options.targetMigrationAddress);
      params.listenAddress = listenAddressFor(options.targetMigrationAddress);
    } else {
      const uri = migrationUriFor(options.targetLibvirtUri);
      if (uri) params.uri = uri;
    }
    if (options.tls) flags |= MigrateFlags.TLS;
  }
  const bandwidth = options.bandwidthMiBps ?? config.bandwidthMiBps;
  // QEMU 10.0's max-bandwidth held each multifd channel, not their sum: in the lab a 2-channel move
  // under a 16 MiB/s cap peaked at 30 MiB/s (20.2 MiB/s over the whole move). Split the cap to
  // start with; adapt.ts raises it while the whole move stays within the cap (multifdCapMiBps).
  const perStream = technique === 'multifd' ? config.techniques.multifd.connections : 1;
  if (bandwidth > 0) params.bandwidthMiBps = Math.max(1, Math.floor(bandwidth / perStream));
  let postcopy: MigrationRecipe['postcopy'] = { mode: 'never' };
  switch (technique) {
    case 'precopy':
    case 'cold':
      break;
    case 'autoconverge':
      flags |= MigrateFlags.AUTO_CONVERGE;
      params.autoConvergeInitialPercent = config.techniques.autoconverge.initialPercent;
      params.autoConvergeIncrementPercent = config.techniques.autoconverge.incrementPercent;
      break;
    case 'xbzrle':
      flags |= MigrateFlags.COMPRESSED;
      params.compression = ['xbzrle'];
      params.compressionXbzrleCacheBytes = config.techniques.xbzrle.cacheMiB * 1024 * 1024;
      break;
    case 'multifd': {
      const multifd = config.techniques.multifd;
      flags |= MigrateFlags.PARALLEL;
      params.parallelConnections = multifd.connections;
      if (multifd.compression === 'zstd' && can('multifdZstd')) {
        flags |= MigrateFlags.COMPRESSED;
        params.compression = ['zstd'];
        params.compressionZstdLevel = multifd.zstdLevel;
      } else if (multifd.zeroCopy && can('zeroCopy')) {
        // QEMU refuses zero-copy send together with multifd compression.
        flags |= MigrateFlags.ZEROCOPY;
      }
      break;
    }
    case 'postcopy':
      flags |= MigrateFlags.POSTCOPY;
      postcopy = { mode: 'immediately' };
      break;
    case 'hybrid':
      flags |= MigrateFlags.POSTCOPY;
      postcopy = { mode: 'afterIterations', iterations: config.techniques.hybrid.switchAfterIterations };
      break;
  }
  // Multifd cannot be combined with post-copy in QEMU 7.2; the others may fall back to it when stuck,
  // if the guest runs: a paused one stays paused and libvirt refuses the flag for it.
  if (
    postcopy.mode === 'never' &&
    technique !== 'multifd' &&
    technique !== 'cold' &&
    options.allowPostcopySwitch &&
    config.switchToPostcopyWhenStuck &&
    postcopyPossibleFor(options.sourceState)
  ) {
    flags |= MigrateFlags.POSTCOPY;
    postcopy = { mode: 'whenStuck' };
  }
  // QEMU's max-postcopy-bandwidth 0 means unlimited, not "same as pre-copy": without this a capped
  // move runs uncapped from its switch on (hybrid runs were seen at 60-65 MiB/s against a 48 cap).
  if (postcopy.mode !== 'never' && can('postcopyBandwidth')) {
    const postcopyCap = config.techniques.postcopy.postcopyBandwidthMiBps > 0 ? config.techniques.postcopy.postcopyBandwidthMiBps : bandwidth;
    if (postcopyCap > 0) params.bandwidthPostcopyMiBps = postcopyCap;
    if (postcopyCap > 0 && postcopy.mode === 'immediately') {
      params.bandwidthPostcopyMiBps = Math.max(1, Math.floor(postcopyCap * POSTCOPY_START_FRACTION));
      return { flags, params, postcopy, postcopyCapMiBps: postcopyCap };
    }
  }
  return { flags, params, postcopy, ...(technique === 'multifd' && perStream > 1 && bandwidth > 0 ? { multifdCapMiBps: bandwidth } : {}) };
}
