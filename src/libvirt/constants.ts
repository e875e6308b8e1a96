/** libvirt flag and enum values (include/libvirt/libvirt-domain.h, libvirt-host.h). */

export const MigrateFlags = {
  LIVE: 1,
  PEER2PEER: 2,
  TUNNELLED: 4,
  PERSIST_DEST: 8,
  UNDEFINE_SOURCE: 16,
  PAUSED: 32,
  NON_SHARED_DISK: 64,
  NON_SHARED_INC: 128,
  CHANGE_PROTECTION: 256,
  UNSAFE: 512,
  OFFLINE: 1024,
  COMPRESSED: 2048,
  ABORT_ON_ERROR: 4096,
  AUTO_CONVERGE: 8192,
  RDMA_PIN_ALL: 16384,
  POSTCOPY: 32768,
  TLS: 65536,
  PARALLEL: 131072,
  NON_SHARED_SYNCHRONOUS_WRITES: 262144,
  POSTCOPY_RESUME: 524288,
  ZEROCOPY: 1048576,
} as const;

export const DomainStatsTypes = {
  STATE: 1,
  CPU_TOTAL: 2,
  BALLOON: 4,
  VCPU: 8,
  INTERFACE: 16,
  BLOCK: 32,
  PERF: 64,
  IOTHREAD: 128,
  MEMORY: 256,
  DIRTYRATE: 512,
  VM: 1024,
} as const;

/** virDomainMigrateMaxSpeedFlags (libvirt-domain.h): POSTCOPY sets or reads max-postcopy-bandwidth instead of max-bandwidth. */
export const MigrateMaxSpeedFlags = {
  POSTCOPY: 1,
} as const;

/** virConnectGetAllDomainStatsFlags (the filters and behaviour bits; libvirt-domain.h). */
export const GetAllDomainStatsFlags = {
  ACTIVE: 1,
  INACTIVE: 2,
  PERSISTENT: 4,
  TRANSIENT: 8,
  RUNNING: 16,
  PAUSED: 32,
  SHUTOFF: 64,
  OTHER: 128,
  /** Report what can be read at once instead of waiting for a running job (libvirt 4.5+). */
  NOWAIT: 2 ** 29,
  BACKING: 2 ** 30,
  ENFORCE_STATS: 2 ** 31,
} as const;

/** virDomainPausedReason values the controller looks at. */
export const DomainPausedReason = {
  MIGRATION: 2,
  POSTCOPY: 12,
  /** Paused after a post-copy that failed after the switch (libvirt >= 1.3.3). */
  POSTCOPY_FAILED: 13,
} as const;

/** virDomainRunningReason values the controller looks at. */
export const DomainRunningReason = {
  POSTCOPY: 10,
  /** Running, but the post-copy migration that brought it failed (destination side, libvirt >= 8.5). */
  POSTCOPY_FAILED: 11,
} as const;

export const DomainState = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;

/** virDomainState names as libvirt spells them (VIR_DOMAIN_SHUTOFF -> 'shutoff'). */
export type DomainStateName = Lowercase<keyof typeof DomainState>;

const DOMAIN_STATE_NAMES = new Map<number, DomainStateName>(Object.entries(DomainState).map(([name, value]) => [value, name.toLowerCase() as DomainStateName]));

/** The name of a virDomainState value ('running', 'shutoff', ...), or undefined for a value this client does not know. */
export function domainStateName(state: number): DomainStateName | undefined {
  return DOMAIN_STATE_NAMES.get(state);
}

export const DomainJobType = { NONE: 0, BOUNDED: 1, UNBOUNDED: 2, COMPLETED: 3, FAILED: 4, CANCELLED: 5 } as const;

export const JobStatsFlags = { COMPLETED: 1, KEEP_COMPLETED: 2 } as const;

/** virDomainMetadataType. */
export const MetadataType = { DESCRIPTION: 0, TITLE: 1, ELEMENT: 2 } as const;

/** virDomainEventID values this client subscribes to. */
export const DomainEventId = { LIFECYCLE: 0, MIGRATION_ITERATION: 20, JOB_COMPLETED: 21 } as const;

/** virDomainEventType: the `event` of a 'lifecycle' DomainEvent. */
export const LifecycleEvent = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;

/** virDrvFeature values asked with supports-feature. */
export const DriverFeature = { TYPED_PARAM_STRING: 9, PROGRAM_KEEPALIVE: 10 } as const;

/** virTypedParameterType. */
export const TypedParamType = { INT: 1, UINT: 2, LLONG: 3, ULLONG: 4, DOUBLE: 5, BOOLEAN: 6, STRING: 7 } as const;

/**
 * virNodeSuspendTarget (include/libvirt/libvirt-host.h): suspend to RAM, to disk, or both. The
 * capabilities' `<host><power_management>` lists what a host supports as `<suspend_mem/>`,
 * `<suspend_disk/>`, `<suspend_hybrid/>`.
 */
export const NodeSuspendTarget = { MEM: 0, DISK: 1, HYBRID: 2 } as const;

/**
 * virConnectBaselineCPUFlags (include/libvirt/libvirt-host.h): EXPAND_FEATURES lists every feature
 * of the baseline's model, not only those beyond it; MIGRATABLE leaves out features that block
 * migration.
 */
export const ConnectBaselineCpuFlags = { EXPAND_FEATURES: 1, MIGRATABLE: 2 } as const;
