/**
 * Issue 27 R11: 1,100 idle connections to the metrics endpoint broke /healthz and took the
 * process's descriptors. The server now holds at most `maxConnections` (the longest-idle one makes
 * room for a new client) and closes idle and slow clients.
 */
import { type AddressInfo, connect, type Socket } from 'node:net';
import type { Server } from 'node:http';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS_SERVER_LIMITS, startMetricsServer } from '../../../src/metrics/server.js';

let server: Server | undefined;
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

/** A server on a free port (metrics.listen needs a port in 1..65535, so bind 0 through a probe). */
async function startOnFreePort(limits: Parameters<typeof startMetricsServer>[3] = {}): Promise<number> {
  const probe = (await import('node:net')).createServer();
  const port = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as AddressInfo).port)));
  await new Promise((r) => probe.close(r));
  server = await startMetricsServer(`127.0.0.1:${port}`, new Registry(), () => ({ ok: true, detail: {} }), limits);
  return port;
}

const idleClient = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => {});
    s.once('error', reject);
    clients.push(s);
  });

const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

async function healthz(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
  await res.text();
  return res.status;
}

const openConnections = () => new Promise<number>((r, j) => server!.getConnections((e, n) => (e ? j(e) : r(n))));

describe('metrics server: connection cap and idle timeout', () => {
  it('has a default cap well under a process descriptor limit of 1024', () => {
    expect(METRICS_SERVER_LIMITS.maxConnections).toBeLessThanOrEqual(128);
    expect(METRICS_SERVER_LIMITS.idleTimeoutMs).toBeLessThanOrEqual(30_000);
  });

  it('with the cap held by idle clients, /healthz still answers and the server never holds more than the cap', async () => {
    const port = await startOnFreePort({ maxConnections: 20 });
    for (let i = 0; i < 60; i++) await idleClient(port);
    await new Promise((r) => setTimeout(r, 100));
    expect(await openConnections()).toBeLessThanOrEqual(20);
    expect(await healthz(port)).toBe(200);
    expect(await openConnections()).toBeLessThanOrEqual(20);
  });

  it('closes a connection that sends nothing after the idle timeout', async () => {
    const port = await startOnFreePort({ idleTimeoutMs: 300 });
    const s = await idleClient(port);
    const t0 = Date.now();
    await closed(s);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('closes a client that sends its headers one byte at a time (slowloris) after the request timeout', async () => {
    const port = await startOnFreePort({ requestTimeoutMs: 500, idleTimeoutMs: 60_000 });
    const s = await idleClient(port);
    const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let i = 0;
    const drip = setInterval(() => !s.destroyed && s.write(request[i++ % request.length]), 100);
    const t0 = Date.now();
    await closed(s);
    clearInterval(drip);
    expect(Date.now() - t0).toBeLessThan(4000);
  });
});
