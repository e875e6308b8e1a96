/**
 * One connection to a libvirt daemon: many calls in flight matched by serial, keepalive both
 * ways, domain events, and typed procedures. A connection that fails for any reason rejects every
 * pending call with ConnectionClosedError and emits 'close' with the reason.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { DomainEventId, DriverFeature, TypedParamType } from './constants.js';
import { ConnectionClosedError, LibvirtAuthError } from './errors.js';
import {
  encodePacket,
  FramingError,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MessageStatus,
  MessageType,
  MIGRATE_COOKIE_MAX_BYTES,
  NODE_MAX_CELLS,
  PacketDecoder,
  Proc,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  STRING_MAX_BYTES,
  DOMAIN_LIST_MAX,
  type Packet,
} from './protocol.js';
import { openTransport, type TransportOptions } from './transport.js';
import { parseLibvirtUri, type ParsedLibvirtUri } from './uri.js';
import {
  readDomain,
  readRemoteError,
  readTypedParams,
  uuidToBytes,
  writeDomain,
  writeTypedParams,
  type DomainRef,
  type TypedParam,
  type TypedParams,
} from './wire.js';
import { XdrReader, XdrWriter } from './xdr.js';

export interface ConnectOptions extends TransportOptions {
  /** Seconds of silence before we probe the peer; 0 turns our probes off. Default 5. */
  keepaliveIntervalSeconds?: number;
  /** Unanswered probes after which the connection is closed. Default 5. */
  keepaliveCount?: number;
  /**
   * Reject a call that has no reply after this long (the connection stays open). Not applied to
   * the procedures in JOB_LENGTH_PROCEDURES, whose reply comes only when a job ends: those are
   * bounded by the caller (the executor's migration deadline) and watched through job stats.
   */
  callTimeoutMs?: number;
  /**
   * Close the connection when authentication and CONNECT_OPEN have not finished after this long
   * (keepalive starts only after them, so a silent peer would otherwise hang open() for ever).
   * Default DEFAULT_HANDSHAKE_TIMEOUT_MS.
   */
  handshakeTimeoutMs?: number;
  readOnly?: boolean;
}

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

interface PendingCall {
  procedure: number;
  /** Decode the reply and resolve the call; throws (without settling) when the reply does not decode. */
  resolve: (payload: Buffer) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

/** open()'s default bound on authentication plus CONNECT_OPEN, in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;

const AUTH_NONE = 0;
const AUTH_SASL = 1;
const AUTH_POLKIT = 2;

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

/**
 * Procedures whose reply libvirt sends only when the job they start has ended, so a reply may
 * legitimately take minutes to hours: a peer-to-peer VIR_MIGRATE call (remote_protocol.x
 * REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS, 305) returns when the migration completes, fails or
 * is aborted. The per-call timeout would report a running migration as failed and leave it unwatched.
 */
export const JOB_LENGTH_PROCEDURES: ReadonlySet<number> = new Set([Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS]);

export class LibvirtConnection extends EventEmitter {
  readonly uri: ParsedLibvirtUri;
  private readonly stream: Duplex;
  private readonly options: ConnectOptions;
  private readonly decoder = new PacketDecoder();
  private readonly pending = new Map<number, PendingCall>();
  private nextSerial = 1;
  private closedReason?: Error;
  private keepaliveTimer?: NodeJS.Timeout;
  private lastReceivedMs = Date.now();
  private unansweredProbes = 0;
  private eventCallbackIds = new Map<number, number>();
  /**
   * The daemon's libvirt and hypervisor (QEMU) versions, read at open (major * 1e6 + minor * 1e3 +
   * micro; undefined when the daemon would not say, e.g. a driver without a hypervisor version).
   */
  versions: { libvirtVersion?: number; hypervisorVersion?: number } = {};

  private constructor(uri: ParsedLibvirtUri, stream: Duplex, options: ConnectOptions) {
    super();
    this.uri = uri;
    this.stream = stream;
    this.options = options;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (e: Error) => this.fail(new ConnectionClosedError(`connection to ${uri.original} failed: ${e.message}`, uri.original)));
    stream.on('close', () => this.fail(new ConnectionClosedError(`connection to ${uri.original} was closed by the peer`, uri.original)));
    stream.on('end', () => this.fail(new ConnectionClosedError(`connection to ${uri.original} was closed by the peer`, uri.original)));
  }

  /** Connect, authenticate and open the hypervisor connection the URI names. */
  static async open(uriText: string, options: ConnectOptions = {}): Promise<LibvirtConnection> {
    const uri = parseLibvirtUri(uriText);
    const stream = await openTransport(uri, options);
    const conn = new LibvirtConnection(uri, stream, options);
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    // Failing the connection rejects the handshake call in flight, so open() rejects with this reason.
    const handshakeTimer = setTimeout(
      () => conn.fail(new ConnectionClosedError(`opening ${uri.original} failed: the daemon did not complete the handshake within ${handshakeTimeoutMs} ms (is it a libvirt daemon, and is it responsive?)`, uri.original)),
      handshakeTimeoutMs,
    );
    try {
      await conn.authenticate();
      if (await conn.supportsFeature(DriverFeature.PROGRAM_KEEPALIVE)) conn.startKeepalive();
      await conn.call(Proc.CONNECT_OPEN, (w) => w.optionalString(uri.remoteName).uint(options.readOnly ? 1 : 0));
      // What the daemon can do: callers gate flags and typed parameters on these versions.
      const [libvirtVersion, hypervisorVersion] = await Promise.all([conn.getLibVersion().catch(() => undefined), conn.getVersion().catch(() => undefined)]);
      conn.versions = { libvirtVersion, hypervisorVersion };
    } catch (e) {
      conn.fail(new ConnectionClosedError(`opening ${uri.original} failed`, uri.original));
      throw e;
    } finally {
      clearTimeout(handshakeTimer);
    }
    return conn;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Why the connection closed, once it has. */
  get closeReason(): Error | undefined {
    return this.closedReason;
  }

  private async authenticate(): Promise<void> {
    const types = await this.call(Proc.AUTH_LIST, undefined, (r) => r.array(20, () => r.int()));
    if (types.length === 0 || types.includes(AUTH_NONE)) return;
    if (types.includes(AUTH_POLKIT)) {
      const complete = await this.call(Proc.AUTH_POLKIT, undefined, (r) => r.int());
      if (complete !== 1) throw new LibvirtAuthError(`${this.uri.original}: polkit authentication did not complete`);
      return;
    }
    const setting = this.uri.transport === 'tcp' ? 'auth_tcp' : this.uri.transport === 'tls' ? 'auth_tls' : 'auth_unix_rw';
    const names = types.map((t) => (t === AUTH_SASL ? 'SASL' : `type ${t}`)).join(', ');
    throw new LibvirtAuthError(
      `${this.uri.original}: the server asks for ${names} authentication, which this client does not support; ` +
        `set ${setting} = "none" (or "polkit" for the unix socket) in the server's libvirtd.conf, or connect over ssh or the local socket`,
    );
  }

  private startKeepalive(): void {
    const intervalSeconds = this.options.keepaliveIntervalSeconds ?? 5;
    const count = this.options.keepaliveCount ?? 5;
    if (intervalSeconds <= 0) return;
    this.keepaliveTimer = setInterval(() => {
      if (Date.now() - this.lastReceivedMs < intervalSeconds * 1000) return;
      if (this.unansweredProbes >= count) {
        this.fail(
          new ConnectionClosedError(
            `connection to ${this.uri.original} closed: the peer did not answer ${count} keepalive probes sent every ${intervalSeconds} s`,
            this.uri.original,
          ),
        );
        return;
      }
      this.unansweredProbes++;
      this.send(KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KEEPALIVE_PROC_PING, MessageType.MESSAGE, 0, Buffer.alloc(0));
    }, intervalSeconds * 1000);
    this.keepaliveTimer.unref();
  }

  private send(program: number, version: number, procedure: number, type: MessageType, serial: number, payload: Buffer): void {
    this.stream.write(encodePacket({ program, version, procedure, type, serial, status: MessageStatus.OK }, payload));
  }

  /** Send one call of the remote program and decode its reply. */
  call<T = void>(procedure: number, writeArgs?: (w: XdrWriter) => void, readReply?: (r: XdrReader) => T): Promise<T> {
    if (this.closedReason) return Promise.reject(new ConnectionClosedError(this.closedReason.message, this.uri.original));
    const serial = this.nextSerial;
    this.nextSerial = (this.nextSerial + 1) >>> 0 || 1;
    const w = new XdrWriter();
    writeArgs?.(w);
    return new Promise<T>((resolve, reject) => {
      const pending: PendingCall = {
        procedure,
        // A decode error propagates to dispatch(), which rejects the call and closes the connection.
        resolve: (payload) => resolve(readReply ? readReply(new XdrReader(payload)) : (undefined as T)),
        reject,
      };
      if (this.options.callTimeoutMs && !JOB_LENGTH_PROCEDURES.has(procedure)) {
        pending.timer = setTimeout(() => {
          this.pending.delete(serial);
          reject(new Error(`procedure ${procedure} on ${this.uri.original} had no reply within ${this.options.callTimeoutMs} ms`));
        }, this.options.callTimeoutMs);
      }
      this.pending.set(serial, pending);
      try {
        this.send(REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, procedure, MessageType.CALL, serial, w.toBuffer());
      } catch (e) {
        this.pending.delete(serial);
        reject(e as Error);
      }
    });
  }

  private onData(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (e) {
      const reason = e instanceof FramingError ? e.message : String(e);
      this.fail(new ConnectionClosedError(`protocol error from ${this.uri.original}: ${reason}`, this.uri.original));
      return;
    }
    // Only a complete packet is a sign of life: a peer trickling bytes of one it never finishes is dead.
    if (packets.length > 0) {
      this.lastReceivedMs = Date.now();
      this.unansweredProbes = 0;
    }
    for (const packet of packets) {
      try {
        this.dispatch(packet);
      } catch (e) {
        this.fail(e instanceof ConnectionClosedError ? e : new ConnectionClosedError(`protocol error from ${this.uri.original}: ${(e as Error).message}`, this.uri.original));
        return;
      }
    }
  }

  private dispatch({ header, payload }: Packet): void {
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.procedure === KEEPALIVE_PROC_PING) {
        this.send(KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KEEPALIVE_PROC_PONG, MessageType.MESSAGE, 0, Buffer.alloc(0));
      }
      return;
    }
    if (header.program !== REMOTE_PROGRAM) throw new Error(`unexpected program 0x${header.program.toString(16)}`);
    if (header.type === MessageType.REPLY || header.type === MessageType.REPLY_WITH_FDS) {
      const pending = this.pending.get(header.serial);
      if (!pending) return; // a call that timed out on our side
      this.pending.delete(header.serial);
      if (pending.timer) clearTimeout(pending.timer);
      try {
        if (header.status === MessageStatus.OK) pending.resolve(payload);
        else pending.reject(readRemoteError(new XdrReader(payload)));
      } catch (e) {
        // The call is already out of `pending`, so fail() would not settle it: reject it here,
        // then let onData close the connection (what follows on the stream cannot be trusted).
        const what = header.status === MessageStatus.OK ? 'reply' : 'error reply';
        const error = new ConnectionClosedError(`protocol error from ${this.uri.original}: cannot decode the ${what} to procedure ${pending.procedure}: ${(e as Error).message}`, this.uri.original);
        pending.reject(error);
        throw error;
      }
      return;
    }
    if (header.type === MessageType.MESSAGE) this.dispatchEvent(header.procedure, new XdrReader(payload));
  }

  private dispatchEvent(procedure: number, r: XdrReader): void {
    let event: DomainEvent | undefined;
    if (procedure === Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
      r.int();
      event = { kind: 'lifecycle', domain: readDomain(r), event: r.int(), detail: r.int() };
    } else if (procedure === Proc.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION) {
      r.int();
      event = { kind: 'migrationIteration', domain: readDomain(r), iteration: r.int() };
    } else if (procedure === Proc.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED) {
      r.int();
      event = { kind: 'jobCompleted', domain: readDomain(r), params: readTypedParams(r) };
    }
    if (event) this.emit('domainEvent', event);
  }

  private fail(reason: Error): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const [serial, pending] of this.pending) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(new ConnectionClosedError(`${reason.message} (procedure ${pending.procedure} was in flight)`, this.uri.original));
      this.pending.delete(serial);
    }
    this.stream.destroy();
    this.emit('close', reason);
  }

  /** Close politely: tell the daemon, then drop the stream. Pending calls are rejected. */
  async close(): Promise<void> {
    if (this.closedReason) return;
    try {
      await Promise.race([this.call(Proc.CONNECT_CLOSE), new Promise((r) => setTimeout(r, 2000).unref())]);
    } catch {
      /* closing anyway */
    }
    this.fail(new ConnectionClosedError(`connection to ${this.uri.original} was closed by the client`, this.uri.original));
  }

  // ---- connection ----

  getLibVersion(): Promise<number> {
    return this.call(Proc.CONNECT_GET_LIB_VERSION, undefined, (r) => Number(r.uhyper()));
  }

  getVersion(): Promise<number> {
    return this.call(Proc.CONNECT_GET_VERSION, undefined, (r) => Number(r.uhyper()));
  }

  getType(): Promise<string> {
    return this.call(Proc.CONNECT_GET_TYPE, undefined, (r) => r.string(STRING_MAX_BYTES));
  }

  getHostname(): Promise<string> {
    return this.call(Proc.CONNECT_GET_HOSTNAME, undefined, (r) => r.string(STRING_MAX_BYTES));
  }

  getCapabilities(): Promise<string> {
    return this.call(Proc.CONNECT_GET_CAPABILITIES, undefined, (r) => r.string(STRING_MAX_BYTES));
  }

  supportsFeature(feature: number): Promise<boolean> {
    return this.call(Proc.CONNECT_SUPPORTS_FEATURE, (w) => w.int(feature), (r) => r.int() !== 0);
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

  /** Host CPU time counters (kernel, user, idle, iowait; nanoseconds) for one CPU or all (-1). */
  async nodeGetCpuStats(cpuNum = -1): Promise<Record<string, bigint>> {
    const count = await this.call(Proc.NODE_GET_CPU_STATS, (w) => w.int(cpuNum).int(0).uint(0), (r) => {
      r.array(16, () => [r.string(STRING_MAX_BYTES), r.uhyper()]);
      return r.int();
    });
    return this.call(Proc.NODE_GET_CPU_STATS, (w) => w.int(cpuNum).int(count).uint(0), (r) => {
      const out: Record<string, bigint> = {};
      for (const [field, value] of r.array(16, () => [r.string(STRING_MAX_BYTES), r.uhyper()] as const)) out[field] = value;
      r.int();
      return out;
    });
  }

  /** Host memory counters (total, free, buffers, cached; KiB) for one NUMA cell or all (-1). */
  async nodeGetMemoryStats(cellNum = -1): Promise<Record<string, bigint>> {
    const count = await this.call(Proc.NODE_GET_MEMORY_STATS, (w) => w.int(0).int(cellNum).uint(0), (r) => {
      r.array(16, () => [r.string(STRING_MAX_BYTES), r.uhyper()]);
      return r.int();
    });
    return this.call(Proc.NODE_GET_MEMORY_STATS, (w) => w.int(count).int(cellNum).uint(0), (r) => {
      const out: Record<string, bigint> = {};
      for (const [field, value] of r.array(16, () => [r.string(STRING_MAX_BYTES), r.uhyper()] as const)) out[field] = value;
      r.int();
      return out;
    });
  }

  /** Free host memory, bytes. */
  nodeGetFreeMemory(): Promise<bigint> {
    return this.call(Proc.NODE_GET_FREE_MEMORY, undefined, (r) => r.uhyper());
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
      (w) => w.array(pageSizesKiB, (x, size) => x.uint(size)).int(startCell).uint(cellCount).uint(0),
      (r) => r.array(NODE_MAX_CELLS, () => r.uhyper()),
    );
  }

  // ---- domains ----

  listAllDomains(flags = 0): Promise<DomainRef[]> {
    return this.call(Proc.CONNECT_LIST_ALL_DOMAINS, (w) => w.int(1).uint(flags), (r) => {
      const domains = r.array(DOMAIN_LIST_MAX, () => readDomain(r));
      r.uint();
      return domains;
    });
  }

  /** Stats of every domain in one call; stats is a DomainStatsTypes bitmask (0 = all groups). */
  getAllDomainStats(stats = 0, flags = 0): Promise<DomainStatsRecord[]> {
    return this.call(Proc.CONNECT_GET_ALL_DOMAIN_STATS, (w) => w.uint(0).uint(stats).uint(flags), (r) =>
      r.array(DOMAIN_LIST_MAX, () => ({ domain: readDomain(r), params: readTypedParams(r) })),
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
    return this.call(Proc.DOMAIN_GET_INFO, (w) => writeDomain(w, dom), (r) => ({
      state: r.uint(),
      maxMemKiB: r.uhyper(),
      memoryKiB: r.uhyper(),
      nrVirtCpu: r.uint(),
      cpuTimeNs: r.uhyper(),
    }));
  }

  domainGetState(dom: DomainRef, flags = 0): Promise<{ state: number; reason: number }> {
    return this.call(Proc.DOMAIN_GET_STATE, (w) => (writeDomain(w, dom), w.uint(flags)), (r) => ({ state: r.int(), reason: r.int() }));
  }

  domainGetXmlDesc(dom: DomainRef, flags = 0): Promise<string> {
    return this.call(Proc.DOMAIN_GET_XML_DESC, (w) => (writeDomain(w, dom), w.uint(flags)), (r) => r.string(STRING_MAX_BYTES));
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

  domainUndefine(dom: DomainRef, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_UNDEFINE_FLAGS, (w) => (writeDomain(w, dom), w.uint(flags)));
  }

  domainGetMetadata(dom: DomainRef, type: number, uri: string | null, flags = 0): Promise<string> {
    return this.call(Proc.DOMAIN_GET_METADATA, (w) => (writeDomain(w, dom), w.int(type).optionalString(uri).uint(flags)), (r) => r.string(STRING_MAX_BYTES));
  }

  domainSetMetadata(dom: DomainRef, type: number, metadata: string | null, key: string | null, uri: string | null, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_SET_METADATA, (w) => (writeDomain(w, dom), w.int(type).optionalString(metadata).optionalString(key).optionalString(uri).uint(flags)));
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
        writeTypedParams(w, typed);
        w.opaque(Buffer.alloc(0));
        w.uint(flags);
      },
      (r) => void r.opaque(MIGRATE_COOKIE_MAX_BYTES),
    );
  }

  domainGetJobInfo(dom: DomainRef): Promise<JobInfo> {
    return this.call(Proc.DOMAIN_GET_JOB_INFO, (w) => writeDomain(w, dom), (r) => ({
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
    }));
  }

  /** Job statistics; flags JobStatsFlags.COMPLETED asks for the last completed job. */
  domainGetJobStats(dom: DomainRef, flags = 0): Promise<{ type: number; params: TypedParams }> {
    return this.call(Proc.DOMAIN_GET_JOB_STATS, (w) => (writeDomain(w, dom), w.uint(flags)), (r) => ({ type: r.int(), params: readTypedParams(r) }));
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
    return this.call(Proc.DOMAIN_MIGRATE_GET_MAX_DOWNTIME, (w) => (writeDomain(w, dom), w.uint(flags)), (r) => Number(r.uhyper()));
  }

  domainMigrateSetMaxSpeed(dom: DomainRef, bandwidthMiBps: number, flags = 0): Promise<void> {
    return this.call(Proc.DOMAIN_MIGRATE_SET_MAX_SPEED, (w) => (writeDomain(w, dom), w.uhyper(BigInt(Math.round(bandwidthMiBps))).uint(flags)));
  }

  domainMigrateGetMaxSpeed(dom: DomainRef, flags = 0): Promise<number> {
    return this.call(Proc.DOMAIN_MIGRATE_GET_MAX_SPEED, (w) => (writeDomain(w, dom), w.uint(flags)), (r) => Number(r.uhyper()));
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
      const callbackId = await this.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, (w) => w.int(eventId).bool(false), (r) => r.int());
      this.eventCallbackIds.set(eventId, callbackId);
    }
  }
}
