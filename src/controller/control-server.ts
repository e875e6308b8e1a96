/**
 * The daemon's end of the control socket (control-protocol.ts): a Unix socket server that reads
 * one bounded request line per connection and answers with the handler's events. Hostile or
 * broken input (not JSON, an unknown op, too long, a client that never finishes its line or
 * hangs up mid-answer) gets a clear error event, never a crash.
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { RequestRefused } from './errors.js';
import { CONTROL_MAX_REQUEST_BYTES, type ControlEvent, type ControlRequest, parseControlRequest } from './control-protocol.js';

/** Runs one request, telling progress through `send`; resolves with the result. Throws RequestRefused to refuse. */
export type ControlHandler = (request: ControlRequest, send: (event: ControlEvent) => void) => Promise<unknown>;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** How long a client may take to send its request line. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Requests served at once (each runs migrations; more wait for none: they are refused as busy). */
const MAX_CONNECTIONS = 8;

/**
 * Listen on `path` (a stale socket file of an earlier run, which held the same state-directory
 * lock, is removed first; anything else there is an error) with mode 0600.
 */
export async function startControlServer(path: string, handler: ControlHandler, logger: Logger): Promise<ControlServer> {
  const existing = await lstat(path).catch(() => undefined);
  if (existing?.isSocket()) await unlink(path);
  else if (existing) throw new Error(`${path} exists and is not a socket; remove it (the daemon's control socket goes there)`);
  const sockets = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: false }, (socket) => {
    // Counted here, not with server.maxConnections (which closes the socket unanswered): the
    // client is told why.
    if (sockets.size >= MAX_CONNECTIONS) {
      socket.on('error', () => {});
      socket.end(
        `${JSON.stringify({ type: 'error', code: 'busy', message: `the daemon is serving ${MAX_CONNECTIONS} requests already; try again when one has ended` } satisfies ControlEvent)}\n`,
      );
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(socket, handler, logger);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  server.on('error', (error) => logger.error({ err: error.message, path }, 'control socket error'));
  return {
    path,
    close: async () => {
      // A request being served would keep close() waiting for its end (a drain: minutes).
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(path).catch(() => {});
    },
  };
}

function serve(socket: Socket, handler: ControlHandler, logger: Logger): void {
  let buffered = Buffer.alloc(0);
  let started = false;
  const send = (event: ControlEvent) => {
    if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(event)}\n`);
  };
  const fail = (code: Extract<ControlEvent, { type: 'error' }>['code'], message: string) => {
    send({ type: 'error', code, message });
    // Answered: nothing more is read from this client (a late valid line would otherwise run unseen).
    started = true;
    buffered = Buffer.alloc(0);
    socket.end();
  };
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
    if (!started) fail('bad-request', `no complete request line within ${REQUEST_TIMEOUT_MS / 1000} s`);
  });
  socket.on('error', (error) => logger.debug({ err: error.message }, 'control client connection error'));
  socket.on('data', (chunk: Buffer) => {
    if (started) return;
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf(0x0a);
    if (end < 0) {
      if (buffered.length > CONTROL_MAX_REQUEST_BYTES) fail('too-large', `the request passed ${CONTROL_MAX_REQUEST_BYTES} bytes without a newline`);
      return;
    }
    if (end > CONTROL_MAX_REQUEST_BYTES) return fail('too-large', `the request is ${end} bytes; at most ${CONTROL_MAX_REQUEST_BYTES}`);
    started = true;
    socket.setTimeout(0);
    const parsed = parseControlRequest(buffered.subarray(0, end).toString('utf8'));
    if ('error' in parsed) return fail('bad-request', parsed.error);
    send({ type: 'accepted', by: 'daemon', pid: process.pid });
    logger.info({ request: parsed.request }, 'operator request over the control socket');
    handler(parsed.request, send).then(
      (result) => {
        send({ type: 'result', result });
        socket.end();
      },
      (error: unknown) => {
        if (error instanceof RequestRefused) send({ type: 'refused', code: error.code, message: error.message });
        else {
          logger.error({ err: (error as Error).message, request: parsed.request }, 'operator request failed');
          send({ type: 'error', code: 'internal', message: (error as Error).message });
        }
        socket.end();
      },
    );
  });
}
