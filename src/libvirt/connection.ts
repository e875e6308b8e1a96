/**
 * LibvirtConnection: the typed procedures of libvirt's remote program over a RemoteSession
 * (session.ts), each named as libvirt names it (REMOTE_PROC_CONNECT_GET_ALL_DOMAIN_STATS ->
 * connectGetAllDomainStats), and the domain events it subscribes to. Argument and reply layouts
 * follow the procedure's remote_*_args / remote_*_ret structs in remote_protocol.x.
 *
 *   const conn = await LibvirtConnection.open('qemu+tcp://10.0.0.5/system');
 *   const info = await conn.nodeGetInfo();
 *   await conn.close();
 */
import { DomainEventId, TypedParamType } from './constants.js';
import {
  REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX,
  REMOTE_DOMAIN_JOB_STATS_MAX,
  REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX,
  REMOTE_NODE_CPU_STATS_MAX,
  REMOTE_NODE_MEMORY_STATS_MAX,
} from './generated/protocol.js';
import { CPU_BASELINE_MAX, DOMAIN_LIST_MAX, MIGRATE_COOKIE_MAX_BYTES, NODE_MAX_CELLS, Proc, STRING_MAX_BYTES } from './protocol.js';
import { RemoteSession, type ConnectOptions } from './session.js';
import { openTransport } from './transport.js';
import { parseLibvirtUri } from './uri.js';
import { readDomain, readTypedParams, uuidToBytes, writeDomain, writeTypedParams, type DomainRef, type TypedParam, type TypedParams } from './wire.js';
import type { XdrReader, XdrWriter } from './xdr.js';

export { DEFAULT_HANDSHAKE_TIMEOUT_MS, JOB_LENGTH_PROCEDURES, type ConnectOptions } from './session.js';

export interface NodeInfo {
  model: string;
  memoryKiB: bigint;
  cpus: number;
  mhz: number;
  nodes: number;
  sockets: number;
  cores: number;
  threads: number;
}

export interface DomainInfo {
  state: number;
  maxMemKiB: bigint;
  memoryKiB: bigint;
  nrVirtCpu: number;
  cpuTimeNs: bigint;
}

export interface JobInfo {
  type: number;
  timeElapsedMs: bigint;
  timeRemainingMs: bigint;
  dataTotal: bigint;
  dataProcessed: bigint;
  dataRemaining: bigint;
  memTotal: bigint;
  memProcessed: bigint;
  memRemaining: bigint;
  fileTotal: bigint;
  fileProcessed: bigint;
  fileRemaining: bigint;
}

export interface DomainStatsRecord {
  domain: DomainRef;
  params: TypedParams;
}

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

  connectGetHostname(): Promise<string> {
    return this.call(Proc.CONNECT_GET_HOSTNAME, undefined, (r) => r.string(STRING_MAX_BYTES));
  }

  connectGetCapabilities(): Promise<string> {
    return this.call(Proc.CONNECT_GET_CAPABILITIES, undefined, (r) => r.string(STRING_MAX_BYTES));
  }

  /**
   * virConnectGetDomainCapabilities: what a guest of `virttype` ('kvm', 'qemu'; undefined for
   * libvirt's default) can use on this host, with the default emulator, arch and machine. Its
   * `<cpu>` lists the host-model CPU and each custom model's usability.
   */
  connectGetDomainCapabilities(virttype?: string): Promise<string> {
    return this.call(
      Proc.CONNECT_GET_DOMAIN_CAPABILITIES,
      (w) => w.optionalString(undefined).optionalString(undefined).optionalString(undefined).optionalString(virttype).uint(0),
      (r) => r.string(STRING_MAX_BYTES),
    );
  }

  /**
   * virConnectBaselineHypervisorCPU: the CPU every given CPU definition (`<cpu>` XML, or domain
   * capabilities XML, whose host-model CPU is taken) can run, for a guest of `virttype`. With
   * ConnectBaselineCpuFlags.EXPAND_FEATURES every feature of its model is listed too.
   */
  connectBaselineHypervisorCpu(xmlCpus: readonly string[], flags = 0, virttype?: string): Promise<string> {
    if (xmlCpus.length === 0 || xmlCpus.length > CPU_BASELINE_MAX)
      throw new RangeError(`connectBaselineHypervisorCpu takes 1 to ${CPU_BASELINE_MAX} CPU definitions, not ${xmlCpus.length}`);
    return this.call(
      Proc.CONNECT_BASELINE_HYPERVISOR_CPU,
      (w) =>
        w
          .optionalString(undefined)
          .optionalString(undefined)
          .optionalString(undefined)
          .optionalString(virttype)
          .array(xmlCpus, CPU_BASELINE_MAX, (x, cpu) => x.string(cpu))
          .uint(flags),
      (r) => r.string(STRING_MAX_BYTES),
    );
  }

  // ---- node ----

  nodeGetInfo(): Promise<NodeInfo> {
    return this.call(Proc.NODE_GET_INFO, undefined, (r) => {
      // char model[32]: XDR sends each char as a 4-byte int.
      const chars: number[] = [];
      for (let i = 0; i < 32; i++) chars.push(r.int() & 0xff);
      const end = chars.indexOf(0);
      const model = Buffer.from(end >= 0 ? chars.slice(0, end) : chars).toString('latin1');
      return { model, memoryKiB: r.uhyper(), cpus: r.int(), mhz: r.int(), nodes: r.int(), sockets: r.int(), cores: r.int(), threads: r.int() };
    });
  }

  /** nparams of NODE_GET_CPU_STATS / NODE_GET_MEMORY_STATS per CPU or cell, learned on this connection. */
  private readonly nodeStatsCounts = new Map<string, number>();

  private nodeStatsWithCount(procedure: number, args: (w: XdrWriter, count: number) => unknown, count: number, max: number): Promise<Record<string, bigint>> {
    return this.call(
      procedure,
      (w) => args(w, count),
      (r) => {
        const out: Record<string, bigint> = {};
        for (const [field, value] of r.array(max, () => [r.string(STRING_MAX_BYTES), r.uhyper()] as const)) out[field] = value;
        r.int();
        return out;
      },
    );
  }

  /** Host CPU time counters (kernel, user, idle, iowait; nanoseconds) for one CPU or all (-1). */
  async nodeGetCpuStats(cpuNum = -1): Promise<Record<string, bigint>> {
    // libvirt answers nparams 0 with the count, then wants exactly that many (a host constant): asked once per connection.
    const known = this.nodeStatsCounts.get(`cpu:${cpuNum}`);
    if (known !== undefined) {
      try {
        return await this.nodeStatsWithCount(Proc.NODE_GET_CPU_STATS, (w, count) => w.int(cpuNum).int(count).uint(0), known, REMOTE_NODE_CPU_STATS_MAX);
      } catch (error) {
        this.nodeStatsCounts.delete(`cpu:${cpuNum}`);
        throw error;
      }
    }
    const count = await this.call(
      Proc.NODE_GET_CPU_STATS,
      (w) => w.int(cpuNum).int(0).uint(0),
      (r) => {
        r.array(REMOTE_NODE_CPU_STATS_MAX, () => [r.string(STRING_MAX_BYTES), r.uhyper()]);
        return r.int();
      },
    );
    this.nodeStatsCounts.set(`cpu:${cpuNum}`, count);
    return this.call(
      Proc.NODE_GET_CPU_STATS,
      (w) => w.int(cpuNum).int(count).uint(0),
      (r) => {
        const out: Record<string, bigint> = {};
        for (const [field, value] of r.array(REMOTE_NODE_CPU_STATS_MAX, () => [r.string(STRING_MAX_BYTES), r.uhyper()] as const)) out[field] = value;
        r.int();
        return out;
      },
    );
  }

  /** Host memory counters (total, free, buffers, cached; KiB) for one NUMA cell or all (-1). */
  async nodeGetMemoryStats(cellNum = -1): Promise<Record<string, bigint>> {
    // libvirt answers nparams 0 with the count, then wants exactly that many (a host constant): asked once per connection.
    const known = this.nodeStatsCounts.get(`memory:${cellNum}`);
    if (known !== undefined) {
      try {
        return await this.nodeStatsWithCount(Proc.NODE_GET_MEMORY_STATS, (w, count) => w.int(count).int(cellNum).uint(0), known, REMOTE_NODE_MEMORY_STATS_MAX);
      } catch (error) {
        this.nodeStatsCounts.delete(`memory:${cellNum}`);
        throw error;
      }
    }
    const count = await this.call(
      Proc.NODE_GET_MEMORY_STATS,
      (w) => w.int(0).int(cellNum).uint(0),
      (r) => {
        r.array(REMOTE_NODE_MEMORY_STATS_MAX, () => [r.string(STRING_MAX_BYTES), r.uhyper()]);
        return r.int();
      },
    );
    this.nodeStatsCounts.set(`memory:${cellNum}`, count);
    return this.call(
      Proc.NODE_GET_MEMORY_STATS,
      (w) => w.int(count).int(cellNum).uint(0),
      (r) => {
        const out: Record<string, bigint> = {};
        for (const [field, value] of r.array(REMOTE_NODE_MEMORY_STATS_MAX, () => [r.string(STRING_MAX_BYTES), r.uhyper()] as const)) out[field] = value;
        r.int();
        return out;
      },
    );
  }

  /**
   * Free pages of each size on NUMA cells startCell .. startCell + cellCount - 1
   * (virNodeGetFreePages, REMOTE_PROC_NODE_GET_FREE_PAGES = 340 in remote_protocol.x: args
   * `unsigned int pages<>; int startCell; unsigned int cellCount; unsigned int flags`, reply
   * `unsigned hyper counts<>`). Page sizes are in KiB; the reply is cell-major: counts[cell *
   * pageSizes.length + i]. A host without NUMA answers for cell 0 with the whole host.
   */
  nodeGetFreePages(pageSizesKiB: readonly number[], startCell: number, cellCount: number): Promise<bigint[]> {
    return this.call(
      Proc.NODE_GET_FREE_PAGES,
      (w) =>
        w
          .array(pageSizesKiB, NODE_MAX_CELLS, (x, size) => x.uint(size))
          .int(startCell)
          .uint(cellCount)
          .uint(0),
      (r) => r.array(NODE_MAX_CELLS, () => r.uhyper()),
    );
  }

  /**
   * Suspend the whole host (virNodeSuspendForDuration, REMOTE_PROC_NODE_SUSPEND_FOR_DURATION = 250
   * in remote_protocol.x: args `unsigned int target; unsigned hyper duration; unsigned int flags`,
   * no reply body). `target` is a NodeSuspendTarget; the host's RTC alarm wakes it after
   * `durationSeconds` (libvirt requires at least 60), nothing earlier does unless something else
   * (Wake-on-LAN, IPMI) powers it on. libvirt refuses a target the host's capabilities
   * `<power_management>` does not list, and a host with running guests may refuse too.
   */
  nodeSuspendForDuration(target: number, durationSeconds: number, flags = 0): Promise<void> {
    return this.call(Proc.NODE_SUSPEND_FOR_DURATION, (w) => w.uint(target).uhyper(BigInt(durationSeconds)).uint(flags));
  }

  // ---- domains ----

  connectListAllDomains(flags = 0): Promise<DomainRef[]> {
    return this.call(
      Proc.CONNECT_LIST_ALL_DOMAINS,
      (w) => w.int(1).uint(flags),
      (r) => {
        const domains = r.array(DOMAIN_LIST_MAX, () => readDomain(r));
        r.uint();
        return domains;
      },
    );
  }

  /** Stats of every domain in one call; stats is a DomainStatsTypes bitmask (0 = all groups). */
  connectGetAllDomainStats(stats = 0, flags = 0): Promise<DomainStatsRecord[]> {
    return this.call(
      Proc.CONNECT_GET_ALL_DOMAIN_STATS,
      (w) => w.uint(0).uint(stats).uint(flags),
      (r) => r.array(DOMAIN_LIST_MAX, () => ({ domain: readDomain(r), params: readTypedParams(r, REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX) })),
    );
  }

  domainLookupByName(name: string): Promise<DomainRef> {
    return this.call(Proc.DOMAIN_LOOKUP_BY_NAME, (w) => w.string(name), readDomain);
  }

  domainLookupByUuid(uuid: string): Promise<DomainRef> {
    const bytes = uuidToBytes(uuid);
    return this.call(Proc.DOMAIN_LOOKUP_BY_UUID, (w) => w.fixedOpaque(bytes), readDomain);
  }

  domainGetInfo(dom: DomainRef): Promise<DomainInfo> {
    return this.call(
      Proc.DOMAIN_GET_INFO,
      (w) => writeDomain(w, dom),
      (r) => ({
        state: r.uint(),
        maxMemKiB: r.uhyper(),
        memoryKiB: r.uhyper(),
        nrVirtCpu: r.uint(),
        cpuTimeNs: r.uhyper(),
      }),
    );
  }

  domainGetState(dom: DomainRef, flags = 0): Promise<{ state: number; reason: number }> {
    return this.call(
      Proc.DOMAIN_GET_STATE,
      (w) => (writeDomain(w, dom), w.uint(flags)),
      (r) => ({ state: r.int(), reason: r.int() }),
    );
  }

  domainGetXmlDesc(dom: DomainRef, flags = 0): Promise<string> {
    return this.call(
      Proc.DOMAIN_GET_XML_DESC,
      (w) => (writeDomain(w, dom), w.uint(flags)),
      (r) => r.string(STRING_MAX_BYTES),
    );
  }

  domainDefineXml(xml: string): Promise<DomainRef> {
    return this.call(Proc.DOMAIN_DEFINE_XML, (w) => w.string(xml), readDomain);
  }

  domainCreate(dom: DomainRef): Promise<void> {
    return this.call(Proc.DOMAIN_CREATE, (w) => writeDomain(w, dom));
  }

  domainDestroy(dom: DomainRef): Promise<void> {
    return this.call(Proc.DOMAIN_DESTROY, (w) => writeDomain(w, dom));
  }

  domainUndefineFlags(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_UNDEFINE_FLAGS, (w) => (writeDomain(w, dom), w.uint(flags)));
  }

  domainGetMetadata(dom: DomainRef, type: number, uri: string | null, flags = 0): Promise<string> {
    return this.call(
      Proc.DOMAIN_GET_METADATA,
      (w) => (writeDomain(w, dom), w.int(type).optionalString(uri).uint(flags)),
      (r) => r.string(STRING_MAX_BYTES),
    );
  }

  domainSetMetadata(dom: DomainRef, type: number, metadata: string | null, key: string | null, uri: string | null, flags = 0): Promise<void> {
    return this.call(
      Proc.DOMAIN_SET_METADATA,
      (w) => (writeDomain(w, dom), w.int(type).optionalString(metadata).optionalString(key).optionalString(uri).uint(flags)),
    );
  }

  // ---- migration and jobs ----

  /**
   * Peer-to-peer migration driven by this (source) daemon: resolves when the VM runs on the
   * destination, rejects with LibvirtError when it failed or was aborted.
   */
  domainMigratePerform3Params(dom: DomainRef, destUri: string, params: MigrationParams, flags: number): Promise<void> {
    const typed = migrationTypedParams(params);
    return this.call(
      Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS,
      (w) => {
        writeDomain(w, dom);
        w.optionalString(destUri);
        writeTypedParams(w, typed, REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX);
        w.opaque(Buffer.alloc(0), MIGRATE_COOKIE_MAX_BYTES);
        w.uint(flags);
      },
      (r) => void r.opaque(MIGRATE_COOKIE_MAX_BYTES),
    );
  }

  domainGetJobInfo(dom: DomainRef): Promise<JobInfo> {
    return this.call(
      Proc.DOMAIN_GET_JOB_INFO,
      (w) => writeDomain(w, dom),
      (r) => ({
        type: r.int(),
        timeElapsedMs: r.uhyper(),
        timeRemainingMs: r.uhyper(),
        dataTotal: r.uhyper(),
        dataProcessed: r.uhyper(),
        dataRemaining: r.uhyper(),
        memTotal: r.uhyper(),
        memProcessed: r.uhyper(),
        memRemaining: r.uhyper(),
        fileTotal: r.uhyper(),
        fileProcessed: r.uhyper(),
        fileRemaining: r.uhyper(),
      }),
    );
  }

  /** Job statistics; flags JobStatsFlags.COMPLETED asks for the last completed job. */
  domainGetJobStats(dom: DomainRef, flags = 0): Promise<{ type: number; params: TypedParams }> {
    return this.call(
      Proc.DOMAIN_GET_JOB_STATS,
      (w) => (writeDomain(w, dom), w.uint(flags)),
      (r) => ({ type: r.int(), params: readTypedParams(r, REMOTE_DOMAIN_JOB_STATS_MAX) }),
    );
  }

  domainAbortJob(dom: DomainRef): Promise<void> {
    return this.call(Proc.DOMAIN_ABORT_JOB, (w) => writeDomain(w, dom));
  }

  domainMigrateStartPostCopy(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_MIGRATE_START_POST_COPY, (w) => (writeDomain(w, dom), w.uint(flags)));
  }

  domainMigrateSetMaxDowntime(dom: DomainRef, downtimeMs: number, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_MIGRATE_SET_MAX_DOWNTIME, (w) => (writeDomain(w, dom), w.uhyper(BigInt(Math.round(downtimeMs))).uint(flags)));
  }

  domainMigrateGetMaxDowntime(dom: DomainRef, flags = 0): Promise<number> {
    return this.call(
      Proc.DOMAIN_MIGRATE_GET_MAX_DOWNTIME,
      (w) => (writeDomain(w, dom), w.uint(flags)),
      (r) => Number(r.uhyper()),
    );
  }

  domainMigrateSetMaxSpeed(dom: DomainRef, bandwidthMiBps: number, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_MIGRATE_SET_MAX_SPEED, (w) => (writeDomain(w, dom), w.uhyper(BigInt(Math.round(bandwidthMiBps))).uint(flags)));
  }

  domainMigrateGetMaxSpeed(dom: DomainRef, flags = 0): Promise<number> {
    return this.call(
      Proc.DOMAIN_MIGRATE_GET_MAX_SPEED,
      (w) => (writeDomain(w, dom), w.uint(flags)),
      (r) => Number(r.uhyper()),
    );
  }

  /** Start libvirt's dirty-rate calculation; read it later with the DIRTYRATE stats group. */
  domainStartDirtyRateCalc(dom: DomainRef, seconds: number, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_START_DIRTY_RATE_CALC, (w) => (writeDomain(w, dom), w.int(seconds).uint(flags)));
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
  connectDomainEventCallbackRegisterAny(eventId: number): Promise<number> {
    return this.call(
      Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
      (w) => w.int(eventId).bool(false),
      (r) => r.int(),
    );
  }

  /** Decodes the events subscribed to (each message starts with the callback id) and emits 'domainEvent'. */
  protected override onMessage(procedure: number, r: XdrReader): void {
    let event: DomainEvent | undefined;
    if (procedure === Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
      r.int();
      event = { kind: 'lifecycle', domain: readDomain(r), event: r.int(), detail: r.int() };
    } else if (procedure === Proc.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION) {
      r.int();
      event = { kind: 'migrationIteration', domain: readDomain(r), iteration: r.int() };
    } else if (procedure === Proc.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED) {
      r.int();
      event = { kind: 'jobCompleted', domain: readDomain(r), params: readTypedParams(r, REMOTE_DOMAIN_JOB_STATS_MAX) };
    }
    if (event) this.emit('domainEvent', event);
  }
}
