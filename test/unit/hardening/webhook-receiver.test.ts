/**
 * Issue 27 R6 and R13: a hostile webhook receiver. Its response body is never kept (an endless
 * body costs a bounded read), and its redirects are never followed (the signed body would go to
 * another host or port).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { webhookSchema } from '../../../src/config/notifications-schema.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import { WebhookNotifier } from '../../../src/notifications/webhooks.js';

const ADDRESS = '127.0.53.1';
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler!);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, ADDRESS, r));
  return `http://${ADDRESS}:${(server.address() as AddressInfo).port}/hook`;
}

function capture() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  const logger = { warn: at('warn'), debug: at('debug'), info: at('info'), error: at('error') } as never;
  return { lines, logger };
}

describe('a hostile webhook receiver', () => {
  it('an 800 MiB response body is not read: the delivery ends after a bounded read and the rest is cancelled (R6)', async () => {
    let written = 0;
    let closed = false;
    const chunk = Buffer.alloc(1 << 20, 0x61);
    const url = await listen((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-length': String(800 * 1024 * 1024) });
        res.on('close', () => (closed = true));
        const more = () => {
          while (!closed && written < 800 * 1024 * 1024) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      });
    });
    const metrics = createMetrics();
    const { logger } = capture();
    const notifier = new WebhookNotifier([webhookSchema.parse({ url, timeoutSeconds: 60, retries: 0 })], { logger, metrics });
    notifier.notify('migration.completed', { vm: 'vm1' });
    await notifier.idle();
    expect((await metrics.registry.getSingleMetricAsString('virt_balancer_webhook_deliveries_total')).includes('outcome="delivered"')).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(closed).toBe(true);
    // What the kernel's socket buffers took before the cancel, not the body.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);

  it('a redirect to another port is not followed: nothing reaches it, the delivery fails naming the Location, no retry (R13)', async () => {
    const elsewhere: string[] = [];
    const other = await listen((req, res) => {
      elsewhere.push(String(req.headers['x-virt-balancer-signature']));
      req.resume();
      res.writeHead(200).end();
    });
    let asked = 0;
    for (const status of [301, 302, 303, 307, 308]) {
      const url = await listen((req, res) => {
        asked++;
        req.resume();
        res.writeHead(status, { location: other }).end('moved');
      });
      const { lines, logger } = capture();
      const notifier = new WebhookNotifier([webhookSchema.parse({ url, secret: 's3cret-signing-key', retries: 2, retryDelaySeconds: 0.01 })], { logger });
      notifier.notify('migration.completed', { vm: 'vm1' });
      await notifier.idle();
      const warn = lines.find((l) => l.level === 'warn');
      expect(warn?.obj.problem, String(status)).toBe(
        `HTTP ${status} redirect to ${other} not followed (redirects are never followed: give the final URL in notifications.webhooks[].url)`,
      );
    }
    expect(asked).toBe(5);
    expect(elsewhere).toEqual([]);
  }, 30_000);
});
