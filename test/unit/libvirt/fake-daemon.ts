/**
 * A minimal libvirt daemon on loopback for unit tests of the client: it speaks libvirt's framing,
 * answers the handshake (no auth, keepalive not supported, versions given), and hands every other
 * call to the test's handler, which may reply at once, later, or never.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encodePacket, MessageStatus, MessageType, PacketDecoder, Proc, REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, type MessageHeader } from '../../../src/libvirt/protocol.js';
import { XdrWriter } from '../../../src/libvirt/xdr.js';

export interface FakeCall {
  procedure: number;
  /** The call's arguments as sent (XDR). */
  payload: Buffer;
  /** Send an OK reply with this payload (empty when omitted). */
  reply(payload?: Buffer): void;
}

export interface FakeDaemon {
  uri: string;
  close(): Promise<void>;
}

const uhyper = (v: number): Buffer => new XdrWriter().uhyper(v).toBuffer();

export async function startFakeDaemon(options: { libvirtVersion: number; hypervisorVersion: number; onCall: (call: FakeCall) => void }): Promise<FakeDaemon> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new PacketDecoder();
    socket.on('data', (chunk) => {
      for (const { header, payload } of decoder.push(chunk)) {
        if (header.program !== REMOTE_PROGRAM) continue;
        const reply = (payload: Buffer = Buffer.alloc(0)) => {
          const h: MessageHeader = { program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, procedure: header.procedure, type: MessageType.REPLY, serial: header.serial, status: MessageStatus.OK };
          if (!socket.destroyed) socket.write(encodePacket(h, payload));
        };
        switch (header.procedure) {
          case Proc.AUTH_LIST:
            reply(new XdrWriter().uint(0).toBuffer());
            break;
          case Proc.CONNECT_SUPPORTS_FEATURE:
            reply(new XdrWriter().int(0).toBuffer());
            break;
          case Proc.CONNECT_OPEN:
          case Proc.CONNECT_CLOSE:
            reply();
            break;
          case Proc.CONNECT_GET_LIB_VERSION:
            reply(uhyper(options.libvirtVersion));
            break;
          case Proc.CONNECT_GET_VERSION:
            reply(uhyper(options.hypervisorVersion));
            break;
          default:
            options.onCall({ procedure: header.procedure, payload, reply });
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `qemu+tcp://127.0.0.1:${port}/system`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
