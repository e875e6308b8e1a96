/**
 * The start of a move: read what the move needs from the source now (the VM's state, the disks
 * to copy), refuse what cannot work, build libvirt's flags and parameters, and start the
 * peer-to-peer migration call.
 */
import type { MigrationConfig } from '../config/migration-schema.js';
import type { DomainEvent, DomainRef, LibvirtConnection, TypedParams } from '../libvirt/index.js';
import type { Logger } from '../log/logger.js';
import { disksToCopy, type DomainDisk } from '../cluster/disks.js';
import { pairFeatures } from '../policy/capabilities.js';
import type { Move } from '../policy/plan-types.js';
import { coldMoveWithLocalDisks } from './storage-copy.js';
import { postcopyRefusal, recipeFor, type MigrationRecipe } from './technique-params.js';

export interface PreparedMove {
  dom: DomainRef;
  /** DomainState on the source before the move: a paused VM moves live and stays paused; a shut-off one moves cold. */
  stateBefore: number;
  /** Disks to copy, read from the running definition now, not when the move was planned. */
  disks: DomainDisk[];
  recipe: MigrationRecipe;
}

/**
 * Everything the call needs; `refused` instead when the move cannot work (a cold move with local
 * disks, a post-copy or hybrid move of a VM that is not running). The VM's state is read from
 * libvirt here, right before the call, as the plan's view of it may be minutes old.
 */
export async function prepareMove(
  move: Move,
  o: {
    source: LibvirtConnection;
    target: LibvirtConnection;
    targetUri: string;
    config: MigrationConfig;
    allowPostcopySwitch: boolean;
    bandwidthMiBps?: number;
    tls?: boolean;
    targetMigrationAddress?: string;
  },
): Promise<PreparedMove | { refused: string }> {
  const dom = await o.source.domainLookupByUuid(move.vmUuid);
  const stateBefore = (await o.source.domainGetState(dom)).state;
  const notLive = postcopyRefusal(move.technique, move.vmName, stateBefore);
  if (notLive) return { refused: notLive };
  const disks = move.copyStorage ? disksToCopy(await o.source.domainGetXmlDesc(dom)) : [];
  if (move.technique === 'cold' && disks.length > 0) return { refused: coldMoveWithLocalDisks({ vm: move.vmName, targetHost: move.to, disks }) };
  const recipe = recipeFor(move.technique, {
    sourceState: stateBefore,
    config: o.config,
    targetLibvirtUri: o.targetUri,
    copyStorage: move.copyStorage,
    migrateDisks: move.copyStorage ? disks.map((d) => d.target) : undefined,
    allowPostcopySwitch: o.allowPostcopySwitch,
    bandwidthMiBps: o.bandwidthMiBps,
    features: pairFeatures(o.source.versions, o.target.versions),
    tls: o.tls,
    targetMigrationAddress: o.targetMigrationAddress,
  });
  return { dom, stateBefore, disks, recipe };
}

export interface StartedCall {
  /** Settles when libvirt's migration call returns; never rejects. */
  settled: Promise<{ ok: true } | { ok: false; error: unknown }>;
  finished: () => boolean;
  /** The job-completed event's figures, once it came. */
  completedParams: () => TypedParams | undefined;
  /** Stop listening for the job-completed event. */
  release: () => void;
}

/** Listen for the job-completed event, set the max downtime, and start the call. */
export async function startCall(
  move: Move,
  prepared: PreparedMove,
  o: { source: LibvirtConnection; targetUri: string; config: MigrationConfig; log: Logger },
): Promise<StartedCall> {
  const { source, log } = o;
  let completedParams: TypedParams | undefined;
  const onEvent = (e: DomainEvent) => {
    if (e.kind === 'jobCompleted' && e.domain.uuid === move.vmUuid) completedParams = e.params;
  };
  await source.subscribeDomainEvents().catch(() => {});
  source.on('domainEvent', onEvent);
  if (move.technique !== 'cold') {
    await source
      .domainMigrateSetMaxDowntime(prepared.dom, o.config.techniques.precopy.maxDowntimeMs)
      .catch((e) => log.warn({ err: (e as Error).message }, 'could not set max downtime'));
  }
  const { recipe } = prepared;
  log.info({ flags: recipe.flags, params: recipe.params, postcopy: recipe.postcopy.mode, predicted: move.predicted }, 'migration starting');
  let finished = false;
  const settled = source.domainMigratePerform3Params(prepared.dom, o.targetUri, recipe.params, recipe.flags).then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  void settled.then(() => (finished = true));
  return { settled, finished: () => finished, completedParams: () => completedParams, release: () => source.off('domainEvent', onEvent) };
}
