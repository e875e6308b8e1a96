/** The HTTP endpoint: /metrics for Prometheus, /healthz for systemd, Docker and load balancers. */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  detail: Record<string, unknown>;
}

/**
 * host:port (IPv6 in brackets) of metrics.listen.
 * @throws Error naming metrics.listen when it is not host:port with a port in 1..65535.
 */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!match) throw new Error(`metrics.listen "${listen}" is not host:port (e.g. 127.0.0.1:9464; "" turns the endpoint off)`);
  const port = Number(match[3]);
  if (port < 1 || port > 65535) throw new Error(`metrics.listen "${listen}": port ${match[3]} is not in 1..65535`);
  return { host: match[1] ?? match[2], port };
}

/** What is wrong with metrics.listen, or undefined when it is usable ("" = endpoint off). */
export function listenProblem(listen: string): string | undefined {
  if (listen === '') return undefined;
  try {
    parseListen(listen);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Limits on the endpoint's clients (defaults: METRICS_SERVER_LIMITS). */
export interface MetricsServerLimits {
  /**
   * Open connections at most. At the cap a new connection closes the longest-idle one (no request
   * in flight), or is closed itself when none is idle, so idle clients cannot lock /healthz out.
   * Well under any file-descriptor limit, so clients never starve the journal and the libvirt
   * connections of descriptors (EMFILE).
   */
  maxConnections: number;
  /** A connection with no request in flight is closed after this long, ms. */
  idleTimeoutMs: number;
  /** A request whose headers (or whole request) have not arrived within this is answered 408 and closed, ms. */
  requestTimeoutMs: number;
}

export const METRICS_SERVER_LIMITS: MetricsServerLimits = { maxConnections: 64, idleTimeoutMs: 10_000, requestTimeoutMs: 5_000 };

/**
 * Serve /metrics and /healthz on `listen` (metrics.listen) within `limits`.
 * @throws Error naming metrics.listen when it cannot listen there.
 */
export async function startMetricsServer(listen: string, registry: Registry, health: () => Health, limits: Partial<MetricsServerLimits> = {}): Promise<Server> {
  const { host, port } = parseListen(listen);
  const { maxConnections, idleTimeoutMs, requestTimeoutMs } = { ...METRICS_SERVER_LIMITS, ...limits };
  const server = createServer(
    {
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      keepAliveTimeout: idleTimeoutMs,
      // Node checks the two timeouts above only this often (30 s by default): a slow client would outlive them.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, requestTimeoutMs / 2)),
    },
    (req, res) => {
      const socket = req.socket;
      busy.add(socket);
      res.once('close', () => {
        busy.delete(socket);
        // Most recently active last: eviction takes the first idle one.
        if (open.delete(socket)) open.add(socket);
      });
      respond(req.method, req.url, res);
    },
  );
  // A connection with no traffic for this long is closed (idle keep-alive, or one that never sends a request).
  server.setTimeout(idleTimeoutMs);
  // Open connections, least recently active first, and those with a request in flight.
  const open = new Set<Socket>();
  const busy = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    if (open.size >= maxConnections) {
      const oldestIdle = [...open].find((s) => !busy.has(s));
      if (oldestIdle) oldestIdle.destroy();
      else {
        socket.destroy();
        return;
      }
    }
    open.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      busy.delete(socket);
    });
  });
  const respond = (method: string | undefined, url: string | undefined, res: ServerResponse): void => {
    const path = (url ?? '/').split('?')[0];
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    } else if (path === '/healthz') {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', ...h.detail }));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('virt-balancer: /metrics and /healthz\n');
    }
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${listen} (metrics.listen): ${e.code === 'EADDRINUSE' ? 'address in use' : e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** Healthy while the last tick ended within three schedule periods (or the first is still due). */
export function tickHealth(lastTickEndedAtMs: number | undefined, startedAtMs: number, periodSeconds: number, nowMs = Date.now()): Health {
  const limitMs = 3 * periodSeconds * 1000 + 10_000;
  const since = lastTickEndedAtMs ?? startedAtMs;
  const ageSeconds = (nowMs - since) / 1000;
  const ok = nowMs - since <= limitMs;
  return {
    ok,
    detail: {
      lastTickAgeSeconds: lastTickEndedAtMs === undefined ? null : +ageSeconds.toFixed(1),
      ...(ok ? {} : { reason: `no tick finished for ${ageSeconds.toFixed(0)} s (schedule period ${periodSeconds} s)` }),
    },
  };
}
