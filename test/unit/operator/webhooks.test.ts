/**
 * Webhooks against real HTTP servers on loopback (127.0.24.x, this branch's lab prefix): body and
 * HMAC signature as documented, retries with backoff after 5xx and refused connections, a slow
 * receiver timed out, no retry after a 4xx, and notify() never waiting for delivery.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { webhookSchema } from '../../../src/config/notifications-schema.js';
import { executorNotifications, maintenanceEvents, resultEvents } from '../../../src/controller/notify-events.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import { signature, WebhookNotifier, type NotificationBody } from '../../../src/notifications/webhooks.js';

const ADDRESS = process.env.VB_WEBHOOK_TEST_ADDRESS ?? '127.0.24.1';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  atMs: number;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A receiver answering each request with `answer(n)` (n counts from 0): a status, or 'hang' (never answers). */
async function receiver(answer: (n: number) => number | 'hang'): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = received.length;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), atMs: Date.now() });
      const a = answer(n);
      if (a === 'hang') return;
      res.writeHead(a).end('ok');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, ADDRESS, r));
  return { url: `http://${ADDRESS}:${(server.address() as AddressInfo).port}/hook`, received };
}

/** A port on ADDRESS nothing listens on (bound, then closed). */
async function closedPortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, ADDRESS, r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://${ADDRESS}:${port}/hook`;
}

const hook = (url: string, extra: Record<string, unknown> = {}) => webhookSchema.parse({ url, retryDelaySeconds: 0.05, timeoutSeconds: 1, ...extra });

describe('webhook config', () => {
  it('defaults: all events, 5 s timeout, 3 retries from 1 s; no webhooks unless configured', () => {
    const w = webhookSchema.parse({ url: 'https://hooks.example/x' });
    expect([w.events.length, w.timeoutSeconds, w.retries, w.retryDelaySeconds, w.secret]).toEqual([9, 5, 3, 1, undefined]);
    expect(configSchema.parse({ hosts: [{ name: 'a', uri: 'qemu:///system' }] }).notifications).toEqual({ webhooks: [] });
  });

  it('refuses a URL that is not http(s) and an unknown event, naming the field', () => {
    const bad = configSchema.safeParse({
      hosts: [{ name: 'a', uri: 'qemu:///system' }],
      notifications: { webhooks: [{ url: 'ftp://x/y', events: ['migration.done'] }] },
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toContain('notifications.webhooks.0.url');
    expect(paths).toContain('notifications.webhooks.0.events.0');
  });
});

describe('WebhookNotifier', () => {
  it('POSTs the documented JSON body with event, delivery id and an HMAC-SHA256 signature of the exact body', async () => {
    const r = await receiver(() => 204);
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const n = new WebhookNotifier([hook(r.url, { secret: 's3cret' })], { logger: silentLogger(), metrics });
    n.notify('migration.completed', { vm: 'web1', from: 'a', to: 'b' }, Date.UTC(2026, 10, 30, 12, 0, 0));
    await n.idle();
    expect(r.received).toHaveLength(1);
    const [got] = r.received;
    const body = JSON.parse(got.body) as NotificationBody;
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      event: 'migration.completed',
      at: '2026-11-30T12:00:00.000Z',
      source: 'virt-balancer',
      data: { vm: 'web1', from: 'a', to: 'b' },
    });
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-virt-balancer-event']).toBe('migration.completed');
    expect(got.headers['x-virt-balancer-delivery']).toBe(body.id);
    const expected = `sha256=${createHmac('sha256', 's3cret').update(got.body).digest('hex')}`;
    expect(got.headers['x-virt-balancer-signature']).toBe(expected);
    expect(signature('s3cret', got.body)).toBe(expected);
    expect(await metrics.registry.getSingleMetricAsString('virt_balancer_webhook_deliveries_total')).toContain(
      'virt_balancer_webhook_deliveries_total{event="migration.completed",outcome="delivered"} 1',
    );
  });

  it('sends only subscribed events, and no signature header without a secret', async () => {
    const r = await receiver(() => 200);
    const n = new WebhookNotifier([hook(r.url, { events: ['host.maintenance.entered'] })], { logger: silentLogger() });
    n.notify('migration.started', { vm: 'x' });
    n.notify('host.maintenance.entered', { host: 'a' });
    await n.idle();
    expect(r.received.map((x) => (JSON.parse(x.body) as NotificationBody).event)).toEqual(['host.maintenance.entered']);
    expect(r.received[0].headers['x-virt-balancer-signature']).toBeUndefined();
  });

  it('retries after 5xx with doubling delays, the same delivery id each time, until a 2xx', async () => {
    const r = await receiver((i) => (i < 2 ? 503 : 200));
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const n = new WebhookNotifier([hook(r.url, { retries: 3, retryDelaySeconds: 0.1 })], { logger: silentLogger(), metrics });
    n.notify('migration.failed', { vm: 'x' });
    await n.idle();
    expect(r.received).toHaveLength(3);
    expect(new Set(r.received.map((x) => x.headers['x-virt-balancer-delivery'])).size).toBe(1);
    // Backoff 0.1 s then 0.2 s (timers may fire late, never early).
    expect(r.received[1].atMs - r.received[0].atMs).toBeGreaterThanOrEqual(95);
    expect(r.received[2].atMs - r.received[1].atMs).toBeGreaterThanOrEqual(195);
    expect(await metrics.registry.getSingleMetricAsString('virt_balancer_webhook_deliveries_total')).toContain('outcome="delivered"} 1');
  });

  it('does not retry a 4xx refusal (other than 408/429), and gives up after the retries on a receiver that is down', async () => {
    const refused = await receiver(() => 401);
    const downUrl = await closedPortUrl();
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const n = new WebhookNotifier([hook(refused.url, { retries: 3 }), hook(downUrl, { retries: 2 })], { logger: silentLogger(), metrics });
    n.notify('migration.aborted', { vm: 'x' });
    await n.idle();
    expect(refused.received).toHaveLength(1);
    expect(await metrics.registry.getSingleMetricAsString('virt_balancer_webhook_deliveries_total')).toContain(
      'virt_balancer_webhook_deliveries_total{event="migration.aborted",outcome="failed"} 2',
    );
  });

  it('times out a receiver that never answers, retries it, and notify() returns before any request is made', async () => {
    const slow = await receiver(() => 'hang');
    const fast = await receiver(() => 200);
    const n = new WebhookNotifier([hook(slow.url, { timeoutSeconds: 0.3, retries: 1 }), hook(fast.url)], { logger: silentLogger() });
    n.notify('postcopy.incident', { vm: 'x' });
    // Returned synchronously: nothing has reached either server yet.
    expect([slow.received.length, fast.received.length]).toEqual([0, 0]);
    await n.idle();
    expect(slow.received).toHaveLength(2);
    expect(fast.received).toHaveLength(1);
  });

  it('drops events beyond maxPending per URL instead of queueing without bound', async () => {
    const slow = await receiver(() => 'hang');
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const n = new WebhookNotifier([hook(slow.url, { timeoutSeconds: 0.2, retries: 0 })], { logger: silentLogger(), metrics, maxPending: 2 });
    for (let i = 0; i < 5; i++) n.notify('migration.started', { i });
    await n.idle();
    const text = await metrics.registry.getSingleMetricAsString('virt_balancer_webhook_deliveries_total');
    expect(text).toContain('outcome="dropped"} 3');
    expect(text).toContain('outcome="failed"} 2');
  });
});

describe('events sent', () => {
  const base = {
    vm: 'v',
    vmUuid: 'u',
    from: 'a',
    to: 'b',
    technique: 'postcopy' as const,
    totalMs: 1000,
    predicted: { totalSeconds: 1, downtimeMs: 10, bytes: 1, converges: true },
    startedAtMs: 0,
    endedAtMs: 5,
  };

  it('a migration end is its outcome; a post-copy failure after the switch is also an incident', () => {
    expect(resultEvents({ ...base, outcome: 'completed', switchedToPostcopy: false }).map((e) => e.event)).toEqual(['migration.completed']);
    expect(resultEvents({ ...base, outcome: 'aborted', switchedToPostcopy: false, error: 'deadline' }).map((e) => e.event)).toEqual(['migration.aborted']);
    expect(resultEvents({ ...base, outcome: 'failed', switchedToPostcopy: true, error: 'x', incident: 'paused on b' }).map((e) => e.event)).toEqual([
      'migration.failed',
      'postcopy.incident',
    ]);
    // Recovered after the switch: completed, and still an incident worth telling.
    expect(resultEvents({ ...base, outcome: 'completed', switchedToPostcopy: true, error: 'recovered' }).map((e) => e.event)).toEqual([
      'migration.completed',
      'postcopy.incident',
    ]);
  });

  it('executor hooks (migrate, drain, approve) notify the start and the end of each move', () => {
    const sent: [string, Record<string, unknown>][] = [];
    const hooks = executorNotifications({ notify: (event, data) => void sent.push([event, data]) });
    hooks.onStart({
      vmName: 'v',
      vmUuid: 'u',
      from: 'a',
      to: 'b',
      technique: 'precopy',
      copyStorage: false,
      predicted: base.predicted,
      reason: 'requested',
      gain: 0,
      inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 1, downtimeBudgetMs: 300 },
    });
    hooks.onResult({ ...base, technique: 'precopy', outcome: 'failed', switchedToPostcopy: false, error: 'connection reset' });
    expect(sent.map(([e, d]) => [e, d.vm, d.to, d.error])).toEqual([
      ['migration.started', 'v', 'b', undefined],
      ['migration.failed', 'v', 'b', 'connection reset'],
    ]);
    expect(sent[0][1]).toEqual({
      vm: 'v',
      vmUuid: 'u',
      from: 'a',
      to: 'b',
      technique: 'precopy',
      reason: 'requested',
      predicted: { totalSeconds: 1, downtimeMs: 10, bytes: 1 },
    });
  });

  it('maintenance changes between ticks, nothing at the first observation', () => {
    const hosts = [
      { name: 'a', maintenance: true },
      { name: 'b', maintenance: false },
      { name: 'c', maintenance: false },
    ];
    expect(maintenanceEvents(undefined, hosts)).toEqual([]);
    const prev = new Map([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
    expect(maintenanceEvents(prev, hosts, 7).map((e) => [e.event, e.data.host, e.atMs])).toEqual([
      ['host.maintenance.entered', 'a', 7],
      ['host.maintenance.left', 'b', 7],
    ]);
  });
});
