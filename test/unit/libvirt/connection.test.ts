import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, LibvirtConnection } from '../../../src/libvirt/connection.js';
import { ConnectionClosedError } from '../../../src/libvirt/errors.js';
import { MessageStatus, Proc } from '../../../src/libvirt/protocol.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

let daemon: FakeDaemon | undefined;
let conn: LibvirtConnection | undefined;
afterEach(async () => {
  vi.useRealTimers();
  conn?.close().catch(() => {});
  conn = undefined;
  await daemon?.close();
  daemon = undefined;
});

/** The promise's outcome, or 'still pending' after ms (a hang is a test failure, not a test timeout). */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: Error } | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), ms)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: Error) => ({ error }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('replies that do not decode', () => {
  it('an error reply with a corrupt remote_error body rejects the call and closes the connection', async () => {
    daemon = await startFakeDaemon({
      // Status ERROR, then 3 bytes: not even the error code's int.
      onCall: (call) => call.procedure === Proc.CONNECT_GET_HOSTNAME && call.reply(Buffer.from([1, 2, 3]), MessageStatus.ERROR),
    });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 5000 });
    const closed = new Promise<Error>((resolve) => conn!.once('close', resolve));
    const outcome = await settledWithin(conn.connectGetHostname(), 2000);
    expect(outcome).not.toBe('still pending');
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect(error.message).toMatch(
      /protocol error from qemu\+tcp:\/\/127\.0\.0\.1:\d+\/system: cannot decode the error reply to REMOTE_PROC_CONNECT_GET_HOSTNAME: truncated data/,
    );
    expect((await closed).message).toMatch(/cannot decode the error reply/);
    expect(conn.closed).toBe(true);
  });

  it('an OK reply that does not decode rejects the call and closes the connection', async () => {
    daemon = await startFakeDaemon({
      // A string whose length word (0xffffffff) exceeds both the limit and the packet.
      onCall: (call) => call.procedure === Proc.CONNECT_GET_HOSTNAME && call.reply(Buffer.from([0xff, 0xff, 0xff, 0xff])),
    });
    conn = await LibvirtConnection.open(daemon.uri);
    const outcome = await settledWithin(conn.connectGetHostname(), 2000);
    expect((outcome as { error: Error }).error?.message).toMatch(/cannot decode the reply to REMOTE_PROC_CONNECT_GET_HOSTNAME/);
    expect(conn.closed).toBe(true);
  });
});

describe('keepalive', () => {
  // A packet that announces 1000 bytes and then arrives one byte every 20 ms, never complete.
  const trickle = (socket: import('node:net').Socket) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(1000);
    socket.write(length);
    const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write(Buffer.from([0]))), 20);
    socket.on('close', () => clearInterval(timer));
  };

  it('declares a peer that only trickles bytes of an unfinished packet dead', async () => {
    daemon = await startFakeDaemon({ keepalive: 'ignore', onOpen: trickle });
    conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0.1, keepaliveCount: 2 });
    const closed = await settledWithin(new Promise<Error>((resolve) => conn!.once('close', resolve)), 3000);
    expect(closed).not.toBe('still pending');
    expect((closed as { value: Error }).value.message).toMatch(/did not answer 2 keepalive probes sent every 0.1 s/);
  });

  it('keeps a peer that answers its probes', async () => {
    daemon = await startFakeDaemon({ keepalive: 'answer' });
    conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0.1, keepaliveCount: 2 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(conn.closed).toBe(false);
  });
});

describe('handshake timeout', () => {
  it('open() rejects when the daemon never answers the handshake', async () => {
    daemon = await startFakeDaemon({ silent: true });
    const outcome = await settledWithin(LibvirtConnection.open(daemon.uri, { handshakeTimeoutMs: 300 }), 3000);
    expect(outcome).not.toBe('still pending');
    expect((outcome as { error: Error }).error.message).toMatch(/did not complete the handshake within 300 ms/);
  });

  it('has a default bound when the caller gives none', async () => {
    let sawAuthList!: () => void;
    const authListed = new Promise<void>((r) => (sawAuthList = r));
    daemon = await startFakeDaemon({ silent: true });
    daemon.server.on('connection', (s) => s.once('data', () => sawAuthList()));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const opening = LibvirtConnection.open(daemon.uri).then(
      () => 'opened',
      (e: Error) => e.message,
    );
    await authListed;
    expect(DEFAULT_HANDSHAKE_TIMEOUT_MS).toBeGreaterThan(0);
    vi.advanceTimersByTime(DEFAULT_HANDSHAKE_TIMEOUT_MS - 1);
    await Promise.resolve();
    vi.advanceTimersByTime(1);
    vi.useRealTimers();
    expect(await settledWithin(opening, 2000)).toEqual({
      value: expect.stringMatching(`did not complete the handshake within ${DEFAULT_HANDSHAKE_TIMEOUT_MS} ms`),
    });
  });
});
