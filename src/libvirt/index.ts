/**
 * virt-balancer's libvirt client: libvirt's remote RPC protocol in TypeScript, no native bindings.
 *
 *   const conn = await LibvirtConnection.open('qemu+tcp://10.0.0.5/system');
 *   const info = await conn.nodeGetInfo();
 *   await conn.close();
 */
export { LibvirtConnection } from './connection.js';
export type { ConnectOptions, NodeInfo, DomainInfo, JobInfo, DomainStatsRecord, MigrationParams, DomainEvent } from './connection.js';
export { LibvirtError, ConnectionClosedError, LibvirtUriError, LibvirtAuthError, ErrorCode, errorCodeName, errorDomainName } from './errors.js';
export { parseLibvirtUri } from './uri.js';
export type { ParsedLibvirtUri, Transport } from './uri.js';
export type { DomainRef, TypedParams, TypedParamValue, TypedParam } from './wire.js';
export { typedParamNumber, typedParamBigInt } from './wire.js';
export {
  MigrateFlags,
  MigrateMaxSpeedFlags,
  NodeSuspendTarget,
  DomainStatsTypes,
  GetAllDomainStatsFlags,
  DomainPausedReason,
  DomainRunningReason,
  DomainState,
  domainStateName,
  type DomainStateName,
  DomainJobType,
  JobStatsFlags,
  MetadataType,
  DomainEventId,
  LifecycleEvent,
  DriverFeature,
  TypedParamType,
  ConnectBaselineCpuFlags,
} from './constants.js';
