/**
 * A minimal libvirt daemon on loopback for unit tests of the client: it speaks libvirt's framing,
 * answers the handshake (no auth, versions given; keepalive unsupported unless asked), and hands
 * every other call to the test's handler, which may reply at once, later, never, with an error
 * status, or write whatever bytes it likes to the socket.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  encodePacket,
  KeepaliveProcedure,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  PacketDecoder,
  Proc,
  REMOTE_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  type MessageHeader,
} from '../../../src/libvirt/protocol.js';
import { XdrWriter } from '../../../src/libvirt/xdr.js';

export interface FakeCall {
  procedure: number;
  header: MessageHeader;
  socket: Socket;
  /** The call's arguments as sent (XDR). */
  payload: Buffer;
  /** Send a reply with this payload (empty when omitted) and status (OK when omitted). */
  reply(payload?: Buffer, status?: MessageStatus): void;
}

export interface FakeDaemon {
  uri: string;
  server: Server;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

export interface FakeDaemonOptions {
  libvirtVersion?: number;
  hypervisorVersion?: number;
  onCall?: (call: FakeCall) => void;
  /**
   * 'unsupported' (default): CONNECT_SUPPORTS_FEATURE says no, so the client sends no probes.
   * 'answer': supported, and the client's pings are answered. 'ignore': supported, pings unanswered.
   */
  keepalive?: 'unsupported' | 'answer' | 'ignore';
  /** Answer nothing at all, not even the handshake. */
  silent?: boolean;
  /** Send every reply one byte per this many ms (a peer that trickles its answers). */
  dripMs?: number;
  /** Called once per connection when the handshake (through CONNECT_GET_VERSION) is answered. */
  onOpen?: (socket: Socket) => void;
}

const uhyper = (v: number): Buffer => new XdrWriter().uhyper(v).toBuffer();

export async function startFakeDaemon(options: FakeDaemonOptions = {}): Promise<FakeDaemon> {
  const sockets = new Set<Socket>();
  const keepalive = options.keepalive ?? 'unsupported';
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new PacketDecoder();
    const dripQueue: number[] = [];
    let dripTimer: NodeJS.Timeout | undefined;
    socket.on('close', () => clearInterval(dripTimer));
    const send = (bytes: Buffer) => {
      if (!options.dripMs) return void socket.write(bytes);
      dripQueue.push(...bytes);
      dripTimer ??= setInterval(() => {
        const next = dripQueue.shift();
        if (next === undefined || socket.destroyed) {
          clearInterval(dripTimer);
          dripTimer = undefined;
          return;
        }
        socket.write(Buffer.from([next]));
      }, options.dripMs);
    };
    socket.on('data', (chunk) => {
      for (const { header, payload } of decoder.push(chunk)) {
        if (options.silent) continue;
        if (header.program === KEEPALIVE_PROGRAM) {
          if (header.procedure === KeepaliveProcedure.PING && keepalive === 'answer')
            socket.write(encodePacket({ ...header, procedure: KeepaliveProcedure.PONG, type: MessageType.MESSAGE }, Buffer.alloc(0)));
          continue;
        }
        if (header.program !== REMOTE_PROGRAM) continue;
        const reply = (payload: Buffer = Buffer.alloc(0), status = MessageStatus.OK) => {
          const h: MessageHeader = {
            program: REMOTE_PROGRAM,
            version: REMOTE_PROTOCOL_VERSION,
            procedure: header.procedure,
            type: MessageType.REPLY,
            serial: header.serial,
            status,
          };
          if (!socket.destroyed) send(encodePacket(h, payload));
        };
        switch (header.procedure) {
          case Proc.AUTH_LIST:
            reply(new XdrWriter().uint(0).toBuffer());
            break;
          case Proc.CONNECT_SUPPORTS_FEATURE:
            reply(new XdrWriter().int(keepalive === 'unsupported' ? 0 : 1).toBuffer());
            break;
          case Proc.CONNECT_OPEN:
          case Proc.CONNECT_CLOSE:
            reply();
            break;
          case Proc.CONNECT_GET_LIB_VERSION:
            reply(uhyper(options.libvirtVersion ?? 11_003_000));
            break;
          case Proc.CONNECT_GET_VERSION:
            reply(uhyper(options.hypervisorVersion ?? 10_000_000));
            options.onOpen?.(socket);
            break;
          default:
            options.onCall?.({ procedure: header.procedure, header, socket, payload, reply });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `qemu+tcp://127.0.0.1:${port}/system`,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
