/**
 * What a technique means to libvirt: migrate flags and typed parameters for a peer-to-peer
 * migration, from the move and the migration config. Pure, so it is unit-tested.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import { MigrateFlags, type MigrationParams } from '../libvirt/index.js';
import type { Technique } from '../policy/plan-types.js';

export interface MigrationRecipe {
  flags: number;
  params: MigrationParams;
  /** When to start post-copy ourselves: never, right away, or after this many pre-copy passes. */
  postcopy: { mode: 'never' } | { mode: 'immediately' } | { mode: 'afterIterations'; iterations: number } | { mode: 'whenStuck' };
}

/** The address migration data should go to: the host part of the target's libvirt URI. */
export function migrationUriFor(targetLibvirtUri: string): string | undefined {
  const match = /^[a-z0-9+]+:\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?]+)/i.exec(targetLibvirtUri);
  return match && match[1] ? `tcp://${match[1]}` : undefined;
}

export function recipeFor(
  technique: Technique,
  options: {
    config: MigrationConfig;
    targetLibvirtUri: string;
    copyStorage: boolean;
    /** Target devs of the disks to copy (libvirt's `migrate_disks`); empty: nothing to copy; absent: libvirt's default set. */
    migrateDisks?: readonly string[];
    allowPostcopySwitch: boolean;
    bandwidthMiBps?: number;
  },
): MigrationRecipe {
  const { config } = options;
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
  const uri = migrationUriFor(options.targetLibvirtUri);
  if (uri && technique !== 'cold') params.uri = uri;
  const bandwidth = options.bandwidthMiBps ?? config.bandwidthMiBps;
  if (bandwidth > 0) params.bandwidthMiBps = bandwidth;
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
    case 'multifd':
      flags |= MigrateFlags.PARALLEL;
      params.parallelConnections = config.techniques.multifd.connections;
      break;
    case 'postcopy':
      flags |= MigrateFlags.POSTCOPY;
      postcopy = { mode: 'immediately' };
      break;
    case 'hybrid':
      flags |= MigrateFlags.POSTCOPY;
      postcopy = { mode: 'afterIterations', iterations: config.techniques.hybrid.switchAfterIterations };
      break;
  }
  if ((technique === 'postcopy' || technique === 'hybrid') && config.techniques.postcopy.postcopyBandwidthMiBps > 0) {
    params.bandwidthPostcopyMiBps = config.techniques.postcopy.postcopyBandwidthMiBps;
  }
  // Multifd cannot be combined with post-copy in QEMU 7.2; the others may fall back to it when stuck.
  if (postcopy.mode === 'never' && technique !== 'multifd' && technique !== 'cold' && options.allowPostcopySwitch && config.switchToPostcopyWhenStuck) {
    flags |= MigrateFlags.POSTCOPY;
    postcopy = { mode: 'whenStuck' };
  }
  return { flags, params, postcopy };
}
