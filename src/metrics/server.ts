/** The HTTP endpoint: /metrics for Prometheus, /healthz for systemd, Docker and load balancers. */
import { createServer, type Server } from 'node:http';
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

export async function startMetricsServer(listen: string, registry: Registry, health: () => Health): Promise<Server> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
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
  });
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
