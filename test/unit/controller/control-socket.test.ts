/**
 * The daemon's control socket (controller/control-server.ts, control-client.ts): hostile or broken
 * input gets a clear error and the server keeps serving; a request round-trips with progress; a
 * refusal keeps its typed code; no daemon reads as "run it yourself".
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlError, requestDaemon } from '../../../src/controller/control-client.js';
import { CONTROL_MAX_REQUEST_BYTES, type ControlEvent, controlSocketPath } from '../../../src/controller/control-protocol.js';
import { type ControlHandler, type ControlServer, startControlServer } from '../../../src/controller/control-server.js';
import { RequestRefused } from '../../../src/controller/errors.js';
import { createLogger } from '../../../src/log/logger.js';

const logger = createLogger({ level: 'silent' });
let dir: string;
let server: ControlServer | undefined;
let handled: unknown[];

const handler: ControlHandler = async (request, send) => {
  handled.push(request);
  if (request.op === 'migrate' && request.vm === 'refused') throw new RequestRefused('vm-not-found', 'VM "refused" was not found on any reachable host');
  if (request.op === 'migrate' && request.vm === 'boom') throw new Error('the executor fell over');
  send({ type: 'progress', kind: 'planned', message: 'one move planned' });
  return { moved: request.op };
};

/** Send raw bytes, collect every line the server answers until it closes. */
async function raw(bytes: string | Buffer, options: { end?: boolean } = {}): Promise<ControlEvent[]> {
  const socket = connect(controlSocketPath(dir));
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(bytes);
  if (options.end) socket.end();
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
  });
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ControlEvent);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vb-control-'));
  handled = [];
  server = await startControlServer(controlSocketPath(dir), handler, logger);
});
afterEach(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('control socket', () => {
  it('is a socket only its owner may open (mode 0600)', async () => {
    expect((await stat(controlSocketPath(dir))).mode & 0o777).toBe(0o600);
  });

  it('a request round-trips: accepted by the daemon, its progress relayed, its result returned', async () => {
    const events: ControlEvent[] = [];
    const result = await requestDaemon(dir, { op: 'drain', host: 'lab1' }, (e) => events.push(e));
    expect(result).toEqual({ moved: 'drain' });
    expect(events.map((e) => e.type)).toEqual(['accepted', 'progress', 'result']);
    expect(events[0]).toMatchObject({ type: 'accepted', by: 'daemon', pid: process.pid });
    expect(handled).toEqual([{ op: 'drain', host: 'lab1' }]);
  });

  it("a refusal reaches the command as RequestRefused with the daemon's typed code", async () => {
    const refused = await requestDaemon(dir, { op: 'migrate', vm: 'refused', to: 'b', technique: 'auto' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RequestRefused);
    expect((refused as RequestRefused).code).toBe('vm-not-found');
    const failed = await requestDaemon(dir, { op: 'migrate', vm: 'boom', to: 'b', technique: 'auto' }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ControlError);
    expect((failed as Error).message).toBe('the daemon could not carry out the request: the executor fell over');
  });

  it('no daemon listening: undefined (the command runs itself)', async () => {
    await server!.close();
    server = undefined;
    expect(await requestDaemon(dir, { op: 'drain', host: 'lab1' })).toBeUndefined();
  });

  it('hostile input gets a clear error and nothing is handled; the server keeps serving', async () => {
    expect(await raw('not json\n')).toEqual([
      { type: 'error', code: 'bad-request', message: expect.stringMatching(/^the request is not JSON .*; send one JSON object on one line$/) },
    ]);
    expect(await raw('{"op":"reboot-everything"}\n')).toEqual([
      {
        type: 'error',
        code: 'bad-request',
        message: expect.stringMatching(/^invalid request at op: .*; ops are drain \{host\}, migrate \{vm, to, technique\}, approve/),
      },
    ]);
    expect((await raw('{"op":"drain","host":"lab1","extra":1}\n'))[0]).toMatchObject({ type: 'error', code: 'bad-request' });
    expect((await raw('{"op":"migrate","vm":"x","to":"y","technique":"teleport"}\n'))[0]).toMatchObject({
      type: 'error',
      code: 'bad-request',
      message: expect.stringMatching(/at technique/),
    });
    expect((await raw('{"op":"approve","by":"me","configFile":"c.yaml"}\n'))[0]).toMatchObject({
      type: 'error',
      code: 'bad-request',
      message: expect.stringMatching(/either id or all/),
    });
    expect((await raw('[1,2,3]\n'))[0]).toMatchObject({ type: 'error', code: 'bad-request' });
    expect((await raw('\n'))[0]).toMatchObject({ type: 'error', code: 'bad-request' });
    // Bigger than the bound, with and without a newline: refused without buffering it all.
    const big = 'x'.repeat(CONTROL_MAX_REQUEST_BYTES + 10);
    expect(await raw(big)).toEqual([{ type: 'error', code: 'too-large', message: `the request passed ${CONTROL_MAX_REQUEST_BYTES} bytes without a newline` }]);
    expect((await raw(`${big}\n`))[0]).toMatchObject({ type: 'error', code: 'too-large' });
    // Binary garbage, and a client that hangs up before its newline.
    expect((await raw(Buffer.from([0xff, 0xfe, 0x00, 0x0a])))[0]).toMatchObject({ type: 'error', code: 'bad-request' });
    expect(await raw('{"op":"drain"', { end: true })).toEqual([]);
    expect(handled).toEqual([]);
    // Still serving.
    expect(await requestDaemon(dir, { op: 'drain', host: 'lab2' })).toEqual({ moved: 'drain' });
  });

  it('refuses to replace a file that is not a socket at the path', async () => {
    await server!.close();
    server = undefined;
    await writeFile(controlSocketPath(dir), 'not a socket');
    await expect(startControlServer(controlSocketPath(dir), handler, logger)).rejects.toThrow(/control\.sock exists and is not a socket; remove it/);
  });

  it('a ninth client at once is told the daemon is busy (not closed unanswered), and the others are still served', async () => {
    const idle = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const socket = connect(controlSocketPath(dir));
        socket.on('error', () => {});
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        return socket;
      }),
    );
    const ninth = await raw('');
    expect(ninth).toEqual([{ type: 'error', code: 'busy', message: 'the daemon is serving 8 requests already; try again when one has ended' }]);
    idle[0].destroy();
    await new Promise((r) => setTimeout(r, 50));
    const events = await raw(`${JSON.stringify({ op: 'migrate', vm: 'v1', to: 'h2', technique: 'auto' })}\n`);
    expect(events.at(-1)).toEqual({ type: 'result', result: { moved: 'migrate' } });
    for (const socket of idle) socket.destroy();
  });

  it('a daemon that takes the connection but never accepts (stopped, stuck) is a ControlError after the accept timeout, not a wait forever', async () => {
    await server?.close();
    server = undefined;
    // A listener that never reads nor answers: what a SIGSTOPped daemon looks like (the kernel accepts).
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent.listen(controlSocketPath(dir), () => resolve()));
    try {
      const started = Date.now();
      const error = await requestDaemon(dir, { op: 'drain', host: 'lab1' }, () => {}, 300).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ControlError);
      expect((error as Error).message).toContain('did not accept the request within 0.3 s: it may be stopped or stuck');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
