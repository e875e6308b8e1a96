/**
 * LibvirtConnection: the typed procedures of libvirt's remote program over a RemoteSession
 * (session.ts), each named as libvirt names it (REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS ->
 * connectGetAllDomainStats), and the domain events it subscribes to. The wire forms (remote_*_args,
 * remote_*_ret, remote_*_msg of remote_protocol.x) are encoded and decoded by the codecs generated
 * from the .x files (generated/codecs.ts); this layer only names things our way (DomainRef, units
 * in names, typed parameters as records) and fills the arguments libvirt wants constant.
 *
 *   const conn = await LibvirtConnection.open('qemu+tcp://10.0.0.5/system');
 *   const info = await conn.nodeGetInfo();
 *   await conn.close();
 */
import { DomainEventId, TypedParamType } from './constants.js';
import { decodeAllDomainStatsRet, type DomainStatsRecord } from './domain-stats-decode.js';
import {
  decodeRemoteDomainEventCallbackJobCompletedMsg,
  decodeRemoteDomainEventCallbackLifecycleMsg,
  decodeRemoteDomainEventCallbackMigrationIterationMsg,
  Procedures,
  type RemoteDomainGetJobInfoRet,
  type RemoteNodeGetInfoRet,
} from './generated/codecs.js';
import { CPU_BASELINE_MAX, Proc } from './protocol.js';
import { RemoteSession, type ConnectOptions } from './session.js';
import { openTransport } from './transport.js';
import { parseLibvirtUri } from './uri.js';
import { domainFromWire, domainToWire, typedParamsRecord, typedParamToWire, uuidToBytes, type DomainRef, type TypedParam, type TypedParams } from './wire.js';
import type { XdrReader } from './xdr.js';

export { DEFAULT_HANDSHAKE_TIMEOUT_MS, JOB_LENGTH_PROCEDURES, type ConnectOptions } from './session.js';

/** virNodeGetInfo's answer (remote_node_get_info_ret), the model as a string and the memory named with its unit (KiB). */
export type NodeInfo = Omit<RemoteNodeGetInfoRet, 'model' | 'memory'> & { model: string; memoryKiB: bigint };

export interface DomainInfo {
  state: number;
  maxMemKiB: bigint;
  memoryKiB: bigint;
  nrVirtCpu: number;
  cpuTimeNs: bigint;
}

/**
 * virDomainGetJobInfo: remote_domain_get_job_info_ret with the two times named in their unit
 * (milliseconds); the data, memory and file counters are bytes.
 */
export type JobInfo = Omit<RemoteDomainGetJobInfoRet, 'timeElapsed' | 'timeRemaining'> & { timeElapsedMs: bigint; timeRemainingMs: bigint };

export type { DomainStatsRecord } from './domain-stats-decode.js';

export interface MigrationParams {
  uri?: string;
  destName?: string;
  destXml?: string;
  persistXml?: string;
  bandwidthMiBps?: number;
  bandwidthPostcopyMiBps?: number;
  parallelConnections?: number;
  /** Methods: 'xbzrle', 'mt' (libvirt 9.0); 'zlib', 'zstd' with VIR_MIGRATE_PARALLEL (libvirt 9.4). */
  compression?: string[];
  compressionMtLevel?: number;
  compressionMtThreads?: number;
  compressionMtDthreads?: number;
  /** VIR_MIGRATE_PARAM_COMPRESSION_ZSTD_LEVEL, 0-20 (libvirt 9.4). */
  compressionZstdLevel?: number;
  compressionXbzrleCacheBytes?: bigint | number;
  autoConvergeInitialPercent?: number;
  autoConvergeIncrementPercent?: number;
  migrateDisks?: string[];
  disksPort?: number;
  disksUri?: string;
  listenAddress?: string;
  graphicsUri?: string;
  tlsDestination?: string;
}

export type DomainEvent =
  | { kind: 'lifecycle'; domain: DomainRef; event: number; detail: number }
  | { kind: 'jobCompleted'; domain: DomainRef; params: TypedParams }
  | { kind: 'migrationIteration'; domain: DomainRef; iteration: number };

/** Typed-parameter names libvirt 9.0 knows for migration, with their wire types. */
function migrationTypedParams(p: MigrationParams): TypedParam[] {
  const out: TypedParam[] = [];
  const str = (field: string, v?: string) => v !== undefined && out.push({ field, type: TypedParamType.STRING, value: v });
  const int = (field: string, v?: number) => v !== undefined && out.push({ field, type: TypedParamType.INT, value: v });
  const ull = (field: string, v?: number | bigint) => v !== undefined && out.push({ field, type: TypedParamType.ULLONG, value: BigInt(v) });
  str('migrate_uri', p.uri);
  str('destination_name', p.destName);
  str('destination_xml', p.destXml);
  str('persistent_xml', p.persistXml);
  ull('bandwidth', p.bandwidthMiBps);
  ull('bandwidth.postcopy', p.bandwidthPostcopyMiBps);
  int('parallel.connections', p.parallelConnections);
  for (const method of p.compression ?? []) str('compression', method);
  int('compression.mt.level', p.compressionMtLevel);
  int('compression.mt.threads', p.compressionMtThreads);
  int('compression.mt.dthreads', p.compressionMtDthreads);
  int('compression.zstd.level', p.compressionZstdLevel);
  ull('compression.xbzrle.cache', p.compressionXbzrleCacheBytes);
  int('auto_converge.initial', p.autoConvergeInitialPercent);
  int('auto_converge.increment', p.autoConvergeIncrementPercent);
  for (const disk of p.migrateDisks ?? []) str('migrate_disks', disk);
  int('disks_port', p.disksPort);
  str('disks_uri', p.disksUri);
  str('listen_address', p.listenAddress);
  str('graphics_uri', p.graphicsUri);
  str('tls.destination', p.tlsDestination);
  return out;
}

export class LibvirtConnection extends RemoteSession {
  private eventCallbackIds = new Map<number, number>();

  /** Connect, authenticate and open the hypervisor connection the URI names. */
  static async open(uriText: string, options: ConnectOptions = {}): Promise<LibvirtConnection> {
    const uri = parseLibvirtUri(uriText);
    const stream = await openTransport(uri, options);
    const conn = new LibvirtConnection(uri, stream, options);
    await conn.handshake();
    return conn;
  }

  // ---- connection ----

  async connectGetHostname(): Promise<string> {
    return (await this.invoke(Procedures.CONNECT_GET_HOSTNAME)).hostname;
  }

  async connectGetCapabilities(): Promise<string> {
    return (await this.invoke(Procedures.CONNECT_GET_CAPABILITIES)).capabilities;
  }

  /**
   * virConnectGetDomainCapabilities: what a guest of `virttype` ('kvm', 'qemu'; undefined for
   * libvirt's default) can use on this host, with the default emulator, arch and machine. Its
   * `<cpu>` lists the host-model CPU and each custom model's usability.
   */
  async connectGetDomainCapabilities(virttype?: string): Promise<string> {
    const args = { emulatorbin: null, arch: null, machine: null, virttype: virttype ?? null, flags: 0 };
    return (await this.invoke(Procedures.CONNECT_GET_DOMAIN_CAPABILITIES, args)).capabilities;
  }

  /**
   * virConnectBaselineHypervisorCPU: the CPU every given CPU definition (`<cpu>` XML, or domain
   * capabilities XML, whose host-model CPU is taken) can run, for a guest of `virttype`. With
   * ConnectBaselineCpuFlags.EXPAND_FEATURES every feature of its model is listed too.
   */
  connectBaselineHypervisorCpu(xmlCpus: readonly string[], flags = 0, virttype?: string): Promise<string> {
    if (xmlCpus.length === 0 || xmlCpus.length > CPU_BASELINE_MAX)
      throw new RangeError(`connectBaselineHypervisorCpu takes 1 to ${CPU_BASELINE_MAX} CPU definitions, not ${xmlCpus.length}`);
    const args = { emulator: null, arch: null, machine: null, virttype: virttype ?? null, xmlCPUs: [...xmlCpus], flags };
    return this.invoke(Procedures.CONNECT_BASELINE_HYPERVISOR_CPU, args).then((ret) => ret.cpu);
  }

  // ---- node ----

  async nodeGetInfo(): Promise<NodeInfo> {
    const ret = await this.invoke(Procedures.NODE_GET_INFO);
    // char model[32]: each char a 4-byte int on the wire, NUL-terminated when shorter.
    const chars = ret.model.map((c) => c & 0xff);
    const end = chars.indexOf(0);
    const model = Buffer.from(end >= 0 ? chars.slice(0, end) : chars).toString('latin1');
    const { memory, cpus, mhz, nodes, sockets, cores, threads } = ret;
    return { model, memoryKiB: memory, cpus, mhz, nodes, sockets, cores, threads };
  }

  /** nparams of NODE_GET_CPU_STATS / NODE_GET_MEMORY_STATS per CPU or cell, learned on this connection. */
  private readonly nodeStatsCounts = new Map<string, number>();

  /**
   * libvirt answers nparams 0 with the count, then wants exactly that many (a host constant):
   * asked once per connection under `key`, forgotten when a call with it fails.
   */
  private async nodeStats(key: string, fetch: (nparams: number) => Promise<{ params: { field: string; value: bigint }[]; nparams: number }>) {
    let count = this.nodeStatsCounts.get(key);
    try {
      if (count === undefined) {
        count = (await fetch(0)).nparams;
        this.nodeStatsCounts.set(key, count);
      }
      const out: Record<string, bigint> = {};
      for (const { field, value } of (await fetch(count)).params) out[field] = value;
      return out;
    } catch (error) {
      this.nodeStatsCounts.delete(key);
      throw error;
    }
  }

  /** Host CPU time counters (kernel, user, idle, iowait; nanoseconds) for one CPU or all (-1). */
  nodeGetCpuStats(cpuNum = -1): Promise<Record<string, bigint>> {
    return this.nodeStats(`cpu:${cpuNum}`, (nparams) => this.invoke(Procedures.NODE_GET_CPU_STATS, { cpuNum, nparams, flags: 0 }));
  }

  /** Host memory counters (total, free, buffers, cached; KiB) for one NUMA cell or all (-1). */
  nodeGetMemoryStats(cellNum = -1): Promise<Record<string, bigint>> {
    return this.nodeStats(`memory:${cellNum}`, (nparams) => this.invoke(Procedures.NODE_GET_MEMORY_STATS, { nparams, cellNum, flags: 0 }));
  }

  /**
   * Free pages of each size on NUMA cells startCell .. startCell + cellCount - 1
   * (virNodeGetFreePages, REMOTE_PROC_NODE_GET_FREE_PAGES). Page sizes are in KiB; the reply is
   * cell-major: counts[cell * pageSizes.length + i]. A host without NUMA answers for cell 0 with
   * the whole host.
   */
  async nodeGetFreePages(pageSizesKiB: readonly number[], startCell: number, cellCount: number): Promise<bigint[]> {
    return (await this.invoke(Procedures.NODE_GET_FREE_PAGES, { pages: [...pageSizesKiB], startCell, cellCount, flags: 0 })).counts;
  }

  /**
   * Suspend the whole host (virNodeSuspendForDuration, REMOTE_PROC_NODE_SUSPEND_FOR_DURATION, no
   * reply body). `target` is a NodeSuspendTarget; the host's RTC alarm wakes it after
   * `durationSeconds` (libvirt requires at least 60), nothing earlier does unless something else
   * (Wake-on-LAN, IPMI) powers it on. libvirt refuses a target the host's capabilities
   * `<power_management>` does not list, and a host with running guests may refuse too.
   */
  async nodeSuspendForDuration(target: number, durationSeconds: number, flags = 0): Promise<void> {
    return this.invoke(Procedures.NODE_SUSPEND_FOR_DURATION, { target, duration: BigInt(durationSeconds), flags });
  }

  // ---- domains ----

  async connectListAllDomains(flags = 0): Promise<DomainRef[]> {
    return (await this.invoke(Procedures.CONNECT_LIST_ALL_DOMAINS, { need_results: 1, flags })).domains.map(domainFromWire);
  }

  /**
   * Stats of every domain in one call; stats is a DomainStatsTypes bitmask (0 = all groups). The
   * reply is decoded straight into records (domain-stats-decode.ts: the collector reads this every
   * tick on every host), with the generated codec's checks and the same result. `wanted` keeps
   * only the parameters it accepts (decodeAllDomainStatsRet).
   */
  async connectGetAllDomainStats(stats = 0, flags = 0, wanted?: (name: string) => boolean): Promise<DomainStatsRecord[]> {
    const { procedure, encodeArgs } = Procedures.CONNECT_GET_ALL_DOMAIN_STATS;
    return this.call(
      procedure,
      (w) => encodeArgs?.(w, { doms: [], stats, flags }),
      (r) => decodeAllDomainStatsRet(r, wanted),
    );
  }

  async domainLookupByName(name: string): Promise<DomainRef> {
    return domainFromWire((await this.invoke(Procedures.DOMAIN_LOOKUP_BY_NAME, { name })).dom);
  }

  async domainLookupByUuid(uuid: string): Promise<DomainRef> {
    return domainFromWire((await this.invoke(Procedures.DOMAIN_LOOKUP_BY_UUID, { uuid: uuidToBytes(uuid) })).dom);
  }

  async domainGetInfo(dom: DomainRef): Promise<DomainInfo> {
    const ret = await this.invoke(Procedures.DOMAIN_GET_INFO, { dom: domainToWire(dom) });
    return { state: ret.state, maxMemKiB: ret.maxMem, memoryKiB: ret.memory, nrVirtCpu: ret.nrVirtCpu, cpuTimeNs: ret.cpuTime };
  }

  async domainGetState(dom: DomainRef, flags = 0): Promise<{ state: number; reason: number }> {
    return this.invoke(Procedures.DOMAIN_GET_STATE, { dom: domainToWire(dom), flags });
  }

  async domainGetXmlDesc(dom: DomainRef, flags = 0): Promise<string> {
    return (await this.invoke(Procedures.DOMAIN_GET_XML_DESC, { dom: domainToWire(dom), flags })).xml;
  }

  async domainDefineXml(xml: string): Promise<DomainRef> {
    return domainFromWire((await this.invoke(Procedures.DOMAIN_DEFINE_XML, { xml })).dom);
  }

  async domainCreate(dom: DomainRef): Promise<void> {
    return this.invoke(Procedures.DOMAIN_CREATE, { dom: domainToWire(dom) });
  }

  async domainDestroy(dom: DomainRef): Promise<void> {
    return this.invoke(Procedures.DOMAIN_DESTROY, { dom: domainToWire(dom) });
  }

  async domainUndefineFlags(dom: DomainRef, flags = 0): Promise<void> {
    return this.invoke(Procedures.DOMAIN_UNDEFINE_FLAGS, { dom: domainToWire(dom), flags });
  }

  async domainGetMetadata(dom: DomainRef, type: number, uri: string | null, flags = 0): Promise<string> {
    return (await this.invoke(Procedures.DOMAIN_GET_METADATA, { dom: domainToWire(dom), type, uri, flags })).metadata;
  }

  async domainSetMetadata(dom: DomainRef, type: number, metadata: string | null, key: string | null, uri: string | null, flags = 0): Promise<void> {
    return this.invoke(Procedures.DOMAIN_SET_METADATA, { dom: domainToWire(dom), type, metadata, key, uri, flags });
  }

  // ---- migration and jobs ----

  /**
   * Peer-to-peer migration driven by this (source) daemon: resolves when the VM runs on the
   * destination, rejects with LibvirtError when it failed or was aborted.
   */
  async domainMigratePerform3Params(dom: DomainRef, destUri: string, params: MigrationParams, flags: number): Promise<void> {
    const args = { dom: domainToWire(dom), dconnuri: destUri, params: migrationTypedParams(params).map(typedParamToWire), cookie_in: Buffer.alloc(0), flags };
    await this.invoke(Procedures.DOMAIN_MIGRATE_PERFORM3_PARAMS, args);
  }

  async domainGetJobInfo(dom: DomainRef): Promise<JobInfo> {
    const { timeElapsed, timeRemaining, ...counters } = await this.invoke(Procedures.DOMAIN_GET_JOB_INFO, { dom: domainToWire(dom) });
    return { ...counters, timeElapsedMs: timeElapsed, timeRemainingMs: timeRemaining };
  }

  /** Job statistics; flags JobStatsFlags.COMPLETED asks for the last completed job. */
  async domainGetJobStats(dom: DomainRef, flags = 0): Promise<{ type: number; params: TypedParams }> {
    const ret = await this.invoke(Procedures.DOMAIN_GET_JOB_STATS, { dom: domainToWire(dom), flags });
    return { type: ret.type, params: typedParamsRecord(ret.params) };
  }

  async domainAbortJob(dom: DomainRef): Promise<void> {
    return this.invoke(Procedures.DOMAIN_ABORT_JOB, { dom: domainToWire(dom) });
  }

  async domainMigrateStartPostCopy(dom: DomainRef, flags = 0): Promise<void> {
    return this.invoke(Procedures.DOMAIN_MIGRATE_START_POST_COPY, { dom: domainToWire(dom), flags });
  }

  async domainMigrateSetMaxDowntime(dom: DomainRef, downtimeMs: number, flags = 0): Promise<void> {
    return this.invoke(Procedures.DOMAIN_MIGRATE_SET_MAX_DOWNTIME, { dom: domainToWire(dom), downtime: BigInt(Math.round(downtimeMs)), flags });
  }

  async domainMigrateGetMaxDowntime(dom: DomainRef, flags = 0): Promise<number> {
    return Number((await this.invoke(Procedures.DOMAIN_MIGRATE_GET_MAX_DOWNTIME, { dom: domainToWire(dom), flags })).downtime);
  }

  async domainMigrateSetMaxSpeed(dom: DomainRef, bandwidthMiBps: number, flags = 0): Promise<void> {
    return this.invoke(Procedures.DOMAIN_MIGRATE_SET_MAX_SPEED, { dom: domainToWire(dom), bandwidth: BigInt(Math.round(bandwidthMiBps)), flags });
  }

  async domainMigrateGetMaxSpeed(dom: DomainRef, flags = 0): Promise<number> {
    return Number((await this.invoke(Procedures.DOMAIN_MIGRATE_GET_MAX_SPEED, { dom: domainToWire(dom), flags })).bandwidth);
  }

  /** Start libvirt's dirty-rate calculation; read it later with the DIRTYRATE stats group. */
  async domainStartDirtyRateCalc(dom: DomainRef, seconds: number, flags = 0): Promise<void> {
    return this.invoke(Procedures.DOMAIN_START_DIRTY_RATE_CALC, { dom: domainToWire(dom), seconds, flags });
  }

  // ---- events ----

  /** Ask the daemon for lifecycle, migration-iteration and job-completed events of all domains. */
  async subscribeDomainEvents(): Promise<void> {
    for (const eventId of [DomainEventId.LIFECYCLE, DomainEventId.MIGRATION_ITERATION, DomainEventId.JOB_COMPLETED]) {
      if (this.eventCallbackIds.has(eventId)) continue;
      this.eventCallbackIds.set(eventId, await this.connectDomainEventCallbackRegisterAny(eventId));
    }
  }

  /** Register for one event type (DomainEventId) of all domains; returns the callback id. */
  async connectDomainEventCallbackRegisterAny(eventId: number): Promise<number> {
    return (await this.invoke(Procedures.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, { eventID: eventId, dom: null })).callbackID;
  }

  /** Decodes the events subscribed to (remote_domain_event_callback_*_msg) and emits 'domainEvent'. */
  protected override onMessage(procedure: number, r: XdrReader): void {
    let event: DomainEvent | undefined;
    if (procedure === Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
      const { msg } = decodeRemoteDomainEventCallbackLifecycleMsg(r);
      event = { kind: 'lifecycle', domain: domainFromWire(msg.dom), event: msg.event, detail: msg.detail };
    } else if (procedure === Proc.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION) {
      const msg = decodeRemoteDomainEventCallbackMigrationIterationMsg(r);
      event = { kind: 'migrationIteration', domain: domainFromWire(msg.dom), iteration: msg.iteration };
    } else if (procedure === Proc.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED) {
      const msg = decodeRemoteDomainEventCallbackJobCompletedMsg(r);
      event = { kind: 'jobCompleted', domain: domainFromWire(msg.dom), params: typedParamsRecord(msg.params) };
    }
    if (event) this.emit('domainEvent', event);
  }
}
