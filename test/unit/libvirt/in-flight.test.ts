/** A connection that closes under a call names the call (remote_protocol.x's name) and what to check. */
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LibvirtConnection } from '../../../src/libvirt/index.js';
import { inFlightNote } from '../../../src/libvirt/session.js';

describe('calls in flight when the connection closes', () => {
  it('during the handshake: REMOTE_PROC_AUTH_LIST by name, and that no libvirt call ran (was "procedure 66 was in flight")', async () => {
    // A transport that takes the connection and drops it, as ssh does when it cannot log in.
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const uri = `qemu+tcp://127.0.0.1:${(server.address() as AddressInfo).port}/system`;
      const error = await LibvirtConnection.open(uri).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toContain(
        "(while connecting: the handshake call REMOTE_PROC_AUTH_LIST got no reply, so no libvirt call ran; check the transport's own error (ssh login and host key, the daemon's socket, a listening libvirtd) with virsh -c on this URI)",
      );
      expect(error?.message).not.toMatch(/procedure \d+/);
    } finally {
      server.close();
    }
  });

  it('after it: the procedure by name, and that its effect is unknown', () => {
    expect(inFlightNote(163)).toBe(
      'REMOTE_PROC_DOMAIN_GET_JOB_INFO was waiting for its reply; whether it took effect on the host is unknown until the host is read again',
    );
  });
});
