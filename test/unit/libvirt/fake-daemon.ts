/**
 * A test daemon on loopback speaking libvirt's RPC framing: it answers the handshake
 * (AUTH_LIST -> none, CONNECT_SUPPORTS_FEATURE -> yes, CONNECT_OPEN -> ok) and hands every other
 * call to the test's handler, which writes whatever bytes it likes to the socket.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { encodePacket, KEEPALIVE_PROGRAM, MessageStatus, MessageType, PacketDecoder, Proc, type Packet } from '../../../src/libvirt/protocol.js';
import { XdrWriter } from '../../../src/libvirt/xdr.js';

export interface FakeDaemon {
  uri: string;
  server: Server;
  sockets: Socket[];
  close(): Promise<void>;
}

/** Bytes of a reply to `call` with the given status and payload. */
export function reply(call: Packet, payload: Buffer, status = MessageStatus.OK): Buffer {
  return encodePacket({ ...call.header, type: MessageType.REPLY, status }, payload);
}

export interface FakeDaemonOptions {
  /** Answer the handshake calls (default true); false leaves the client waiting in open(). */
  handshake?: boolean;
  /** Called for every remote-program call after the handshake (and for keepalive packets). */
  onCall?: (call: Packet, socket: Socket) => void;
  /** Called once per connection when the handshake is done. */
  onOpen?: (socket: Socket) => void;
}

export async function startFakeDaemon(options: FakeDaemonOptions = {}): Promise<FakeDaemon> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    const decoder = new PacketDecoder();
    socket.on('data', (chunk) => {
      for (const call of decoder.push(chunk)) {
        if (call.header.program === KEEPALIVE_PROGRAM) {
          options.onCall?.(call, socket);
          continue;
        }
        const handshake = options.handshake ?? true;
        if (call.header.procedure === Proc.AUTH_LIST) {
          if (handshake) socket.write(reply(call, new XdrWriter().uint(1).int(0).toBuffer()));
        } else if (call.header.procedure === Proc.CONNECT_SUPPORTS_FEATURE) {
          if (handshake) socket.write(reply(call, new XdrWriter().int(1).toBuffer()));
        } else if (call.header.procedure === Proc.CONNECT_OPEN) {
          if (handshake) {
            socket.write(reply(call, Buffer.alloc(0)));
            options.onOpen?.(socket);
          }
        } else options.onCall?.(call, socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
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
