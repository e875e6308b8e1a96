/**
 * The session with one libvirt daemon: the transport's byte stream, many calls in flight matched
 * by serial, per-call timeouts, keepalive both ways, the handshake (authentication, CONNECT_OPEN,
 * versions) and a polite close. A session that fails for any reason rejects every pending call
 * with ConnectionClosedError and emits 'close' with the reason. The typed procedures are in
 * connection.ts (LibvirtConnection extends this class).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { DriverFeature } from './constants.js';
import { ConnectionClosedError, LibvirtAuthError } from './errors.js';
import { Procedures, type ProcedureCodec } from './generated/codecs.js';
import {
  encodePacket,
  FramingError,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  KeepaliveProcedure,
  MessageStatus,
  MessageType,
  PacketDecoder,
  Proc,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  RemoteAuthType,
  type Packet,
} from './protocol.js';
import type { TransportOptions } from './transport.js';
import type { ParsedLibvirtUri } from './uri.js';
import { readRemoteError } from './wire.js';
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

/** REMOTE_PROC_<NAME> by number, as remote_protocol.x names the procedures. */
const PROCEDURE_NAMES = new Map<number, string>(Object.entries(Proc).map(([name, number]) => [number, `REMOTE_PROC_${name}`]));
/** The calls of the handshake (open() makes them before any other): a close during one means libvirtd was never reached or refused us. */
const HANDSHAKE_PROCEDURES = new Set<number>([Proc.AUTH_LIST, Proc.AUTH_POLKIT, Proc.CONNECT_OPEN, Proc.CONNECT_SUPPORTS_FEATURE]);

/**
 * Why a call in flight failed with the connection, in words a person can act on: the procedure's
 * name from remote_protocol.x (not its number) and what to check.
 */
export function inFlightNote(procedure: number): string {
  const name = PROCEDURE_NAMES.get(procedure) ?? `procedure ${procedure}`;
  if (HANDSHAKE_PROCEDURES.has(procedure))
    return `while connecting: the handshake call ${name} got no reply, so no libvirt call ran; check the transport's own error (ssh login and host key, the daemon's socket, a listening libvirtd) with virsh -c on this URI`;
  return `${name} was waiting for its reply; whether it took effect on the host is unknown until the host is read again`;
}

interface PendingCall {
  procedure: number;
  /** Decode the reply and resolve the call; throws (without settling) when the reply does not decode. */
  resolve: (payload: Buffer) => void;
  reject: (error: Error) => void;
  timer?: NodeJS.Timeout;
}

/** open()'s default bound on authentication plus CONNECT_OPEN, in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * Procedures whose reply libvirt sends only when the job they start has ended, so a reply may
 * legitimately take minutes to hours: a peer-to-peer VIR_MIGRATE call (remote_protocol.x
 * REMOTE_PROC_DOMAIN_MIGRATE_PERFORM3_PARAMS, 305) returns when the migration completes, fails or
 * is aborted. The per-call timeout would report a running migration as failed and leave it unwatched.
 */
export const JOB_LENGTH_PROCEDURES: ReadonlySet<number> = new Set([Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS]);

/** A session with one daemon; LibvirtConnection adds the typed procedures. */
export class RemoteSession extends EventEmitter {
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
  /** The stream is corked until the turn's end (see send). */
  private corked = false;
  /**
   * The daemon's libvirt and hypervisor (QEMU) versions, read at open (major * 1e6 + minor * 1e3 +
   * micro; undefined when the daemon would not say, e.g. a driver without a hypervisor version).
   */
  versions: { libvirtVersion?: number; hypervisorVersion?: number } = {};

  protected constructor(uri: ParsedLibvirtUri, stream: Duplex, options: ConnectOptions) {
    super();
    this.uri = uri;
    this.stream = stream;
    this.options = options;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (e: Error) => this.fail(new ConnectionClosedError(`connection to ${uri.original} failed: ${e.message}`, uri.original)));
    stream.on('close', () => this.fail(new ConnectionClosedError(`connection to ${uri.original} was closed by the peer`, uri.original)));
    stream.on('end', () => this.fail(new ConnectionClosedError(`connection to ${uri.original} was closed by the peer`, uri.original)));
  }

  /**
   * Authenticate, start keepalive when the daemon supports it, open the hypervisor connection the
   * URI names (CONNECT_OPEN) and read the daemon's versions, all within handshakeTimeoutMs. On any
   * failure the session is closed and the error thrown.
   */
  protected async handshake(): Promise<void> {
    const uri = this.uri;
    const handshakeTimeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    // Failing the session rejects the handshake call in flight, so open() rejects with this reason.
    const handshakeTimer = setTimeout(
      () =>
        this.fail(
          new ConnectionClosedError(
            `opening ${uri.original} failed: the daemon did not complete the handshake within ${handshakeTimeoutMs} ms (is it a libvirt daemon, and is it responsive?)`,
            uri.original,
          ),
        ),
      handshakeTimeoutMs,
    );
    try {
      await this.authenticate();
      if (await this.connectSupportsFeature(DriverFeature.PROGRAM_KEEPALIVE)) this.startKeepalive();
      await this.invoke(Procedures.CONNECT_OPEN, { name: uri.remoteName, flags: this.options.readOnly ? 1 : 0 });
      // What the daemon can do: callers gate flags and typed parameters on these versions.
      const [libvirtVersion, hypervisorVersion] = await Promise.all([
        this.connectGetLibVersion().catch(() => undefined),
        this.connectGetVersion().catch(() => undefined),
      ]);
      this.versions = { libvirtVersion, hypervisorVersion };
    } catch (e) {
      this.fail(new ConnectionClosedError(`opening ${uri.original} failed`, uri.original));
      throw e;
    } finally {
      clearTimeout(handshakeTimer);
    }
  }

  /** The daemon's libvirt version (major * 1e6 + minor * 1e3 + micro). */
  async connectGetLibVersion(): Promise<number> {
    return Number((await this.invoke(Procedures.CONNECT_GET_LIB_VERSION)).lib_ver);
  }

  /** The hypervisor's version (QEMU for the qemu driver), same encoding as connectGetLibVersion. */
  async connectGetVersion(): Promise<number> {
    return Number((await this.invoke(Procedures.CONNECT_GET_VERSION)).hv_ver);
  }

  /** Whether the daemon's driver supports a virDrvFeature (DriverFeature). */
  async connectSupportsFeature(feature: number): Promise<boolean> {
    return (await this.invoke(Procedures.CONNECT_SUPPORTS_FEATURE, { feature })).supported !== 0;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Why the connection closed, once it has. */
  get closeReason(): Error | undefined {
    return this.closedReason;
  }

  private async authenticate(): Promise<void> {
    const { types } = await this.invoke(Procedures.AUTH_LIST);
    if (types.length === 0 || types.includes(RemoteAuthType.NONE)) return;
    if (types.includes(RemoteAuthType.POLKIT)) {
      const { complete } = await this.invoke(Procedures.AUTH_POLKIT);
      if (complete !== 1) throw new LibvirtAuthError(`${this.uri.original}: polkit authentication did not complete`);
      return;
    }
    const setting = this.uri.transport === 'tcp' ? 'auth_tcp' : this.uri.transport === 'tls' ? 'auth_tls' : 'auth_unix_rw';
    const names = types.map((t) => (t === RemoteAuthType.SASL ? 'SASL' : `type ${t}`)).join(', ');
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
      this.send(KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KeepaliveProcedure.PING, MessageType.MESSAGE, 0, Buffer.alloc(0));
    }, intervalSeconds * 1000);
    this.keepaliveTimer.unref();
  }

  /**
   * Packets sent in one turn of the event loop leave together: the stream is corked at the first
   * and uncorked once the turn's callbacks and promise jobs have run (setImmediate), so the calls a caller makes at once (the collector's four per
   * host per tick) cost one write system call, not one each (at 10,000 hosts the writes were ~7 %
   * of a collection tick's CPU, bench/collect-scale.ts).
   */
  private send(program: number, version: number, procedure: number, type: MessageType, serial: number, payload: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      setImmediate(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(encodePacket({ program, version, procedure, type, serial, status: MessageStatus.OK }, payload));
  }

  /**
   * Call a procedure through its generated codecs (generated/codecs.ts, from remote_protocol.x):
   * `args` is its remote_*_args struct, the result its remote_*_ret struct.
   */
  invoke<Args, Ret>(codec: ProcedureCodec<Args, Ret>, args: Args): Promise<Ret>;
  invoke<Ret>(codec: ProcedureCodec<void, Ret>): Promise<Ret>;
  invoke<Args, Ret>(codec: ProcedureCodec<Args, Ret>, args?: Args): Promise<Ret> {
    const { encodeArgs } = codec;
    return this.call(codec.procedure, encodeArgs && ((w) => encodeArgs(w, args as Args)), codec.decodeRet);
  }

  /** Send one call of the remote program and decode its reply (with hand-written codecs; invoke uses the generated ones). */
  call<T = void>(procedure: number, writeArgs?: (w: XdrWriter) => void, readReply?: (r: XdrReader) => T): Promise<T> {
    if (this.closedReason) return Promise.reject(new ConnectionClosedError(this.closedReason.message, this.uri.original));
    const serial = this.nextSerial;
    this.nextSerial = (this.nextSerial + 1) >>> 0 || 1;
    const w = new XdrWriter();
    try {
      writeArgs?.(w);
    } catch (e) {
      // Arguments over a .x bound: the caller's error, as a rejection like every other failure of a call.
      const name = PROCEDURE_NAMES.get(procedure) ?? `procedure ${procedure}`;
      return Promise.reject(new RangeError(`${name} on ${this.uri.original}: ${(e as Error).message}`));
    }
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
          reject(
            new Error(
              `${PROCEDURE_NAMES.get(procedure) ?? `procedure ${procedure}`} on ${this.uri.original} had no reply within ${this.options.callTimeoutMs} ms`,
            ),
          );
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
        this.fail(
          e instanceof ConnectionClosedError
            ? e
            : new ConnectionClosedError(`protocol error from ${this.uri.original}: ${(e as Error).message}`, this.uri.original),
        );
        return;
      }
    }
  }

  private dispatch({ header, payload }: Packet): void {
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.procedure === KeepaliveProcedure.PING) {
        this.send(KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KeepaliveProcedure.PONG, MessageType.MESSAGE, 0, Buffer.alloc(0));
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
        const error = new ConnectionClosedError(
          `protocol error from ${this.uri.original}: cannot decode the ${what} to ${PROCEDURE_NAMES.get(pending.procedure) ?? `procedure ${pending.procedure}`}: ${(e as Error).message}`,
          this.uri.original,
        );
        pending.reject(error);
        throw error;
      }
      return;
    }
    if (header.type === MessageType.MESSAGE) this.onMessage(header.procedure, new XdrReader(payload));
  }

  /** A MESSAGE of the remote program (an event); decoding it is the procedures' business. */
  protected onMessage(_procedure: number, _r: XdrReader): void {}

  protected fail(reason: Error): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const [serial, pending] of this.pending) {
      if (pending.timer) clearTimeout(pending.timer);
      pending.reject(new ConnectionClosedError(`${reason.message} (${inFlightNote(pending.procedure)})`, this.uri.original));
      this.pending.delete(serial);
    }
    this.stream.destroy();
    this.emit('close', reason);
  }

  /** Close politely: tell the daemon, then drop the stream. Pending calls are rejected. */
  async close(): Promise<void> {
    if (this.closedReason) return;
    try {
      await Promise.race([this.invoke(Procedures.CONNECT_CLOSE), new Promise((r) => setTimeout(r, 2000).unref())]);
    } catch {
      /* closing anyway */
    }
    this.fail(new ConnectionClosedError(`connection to ${this.uri.original} was closed by the client`, this.uri.original));
  }
}
