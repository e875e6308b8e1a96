/**
 * Webhook notifications: a JSON POST per event to each configured URL that asked for it
 * (`notifications.webhooks` in config; body and headers documented in docs/operator-workflow.md, "Notifications: webhooks").
 *
 * Delivery never blocks the caller: `notify` queues and returns at once; each delivery runs in the
 * background with its own timeout and retries with exponential backoff (a 2xx answer is delivered;
 * a 4xx other than 408 and 429 is a permanent refusal, not retried). HTTP is Node's own fetch
 * (undici). With a secret, the body is signed with HMAC-SHA256 in `X-Virt-Balancer-Signature:
 * sha256=<hex>` (the scheme GitHub webhooks use), so a receiver can check it came from us.
 *
 * A receiver is not trusted further than the URL the operator gave: redirects are never followed
 * (a 3xx is a failed delivery naming the Location; the signed body and its signature would
 * otherwise go to another host or port), and the response body is never kept: at most
 * RESPONSE_BODY_MAX_BYTES of it are read (so a short body frees the connection for reuse) and the
 * rest is cancelled with the connection, so a receiver answering with an endless body costs nothing.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { NOTIFICATION_EVENTS, type NotificationEvent, type WebhookConfig } from '../config/notifications-schema.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';

export { NOTIFICATION_EVENTS, type NotificationEvent };

/** The JSON body of every webhook request. */
export interface NotificationBody {
  /** Unique per event (also in `X-Virt-Balancer-Delivery`); the same across retries, so a receiver can drop duplicates. */
  id: string;
  event: NotificationEvent;
  /** When the event happened, ISO 8601 UTC. */
  at: string;
  source: 'virt-balancer';
  /** Event-specific fields (docs/operator-workflow.md, "Notifications: webhooks"). */
  data: Record<string, unknown>;
}

/** Headers and body signature: `sha256=` and the hex HMAC-SHA256 of the exact body bytes with the secret. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhookNotifierOptions {
  logger: Logger;
  metrics?: Metrics;
  /** The fetch to use (tests); default the global fetch. */
  fetch?: typeof fetch;
  /** Deliveries queued or running per webhook at most; beyond it new events for that webhook are dropped (logged, counted). Default 1000. */
  maxPending?: number;
}

/** How much of a receiver's response body is read (and thrown away) before the rest is cancelled. */
export const RESPONSE_BODY_MAX_BYTES = 64 * 1024;

/** Read and discard at most `maxBytes` of a response body, then cancel the rest (closing the connection). Never throws. */
async function discardBody(response: Response, maxBytes: number): Promise<void> {
  const body = response.body;
  if (!body) return;
  const reader = body.getReader();
  try {
    let read = 0;
    while (read <= maxBytes) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    await reader.cancel().catch(() => undefined);
  }
}

/** HTTP statuses that say "try again later" among the 4xx; every other 4xx will not change on retry. */
const RETRYABLE_4XX = new Set([408, 429]);

export class WebhookNotifier {
  private readonly pending = new Set<Promise<void>>();
  private readonly pendingPerUrl = new Map<string, number>();
  private readonly fetch: typeof fetch;

  constructor(
    private webhooks: readonly WebhookConfig[],
    private readonly options: WebhookNotifierOptions,
  ) {
    this.fetch = options.fetch ?? fetch;
  }

  /** Use new webhook settings (SIGHUP); deliveries under way finish with the old ones. */
  setWebhooks(webhooks: readonly WebhookConfig[]): void {
    this.webhooks = webhooks;
  }

  /**
   * Send `event` to every webhook that subscribed to it. Returns at once; delivery happens in the
   * background (see `idle`). Never throws.
   */
  notify(event: NotificationEvent, data: Record<string, unknown>, atMs = Date.now()): void {
    const body: NotificationBody = { id: randomUUID(), event, at: new Date(atMs).toISOString(), source: 'virt-balancer', data };
    const text = JSON.stringify(body);
    for (const hook of this.webhooks) {
      if (!hook.events.includes(event)) continue;
      const queued = this.pendingPerUrl.get(hook.url) ?? 0;
      if (queued >= (this.options.maxPending ?? 1000)) {
        this.options.metrics?.webhookDeliveriesTotal.inc({ event, outcome: 'dropped' });
        this.options.logger.warn(
          { url: redact(hook.url), event, pending: queued },
          'webhook notification dropped: too many deliveries to this URL waiting (is it down?)',
        );
        continue;
      }
      this.pendingPerUrl.set(hook.url, queued + 1);
      const delivery = this.deliver(hook, body, text).finally(() => {
        this.pending.delete(delivery);
        this.pendingPerUrl.set(hook.url, (this.pendingPerUrl.get(hook.url) ?? 1) - 1);
      });
      this.pending.add(delivery);
    }
  }

  /** Resolves when every delivery queued so far has been delivered or given up (bounded by timeouts and retries). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async deliver(hook: WebhookConfig, body: NotificationBody, text: string): Promise<void> {
    const { logger, metrics } = this.options;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'virt-balancer',
      'x-virt-balancer-event': body.event,
      'x-virt-balancer-delivery': body.id,
    };
    if (hook.secret) headers['x-virt-balancer-signature'] = signature(hook.secret, text);
    let lastProblem = '';
    for (let attempt = 0; attempt <= hook.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, hook.retryDelaySeconds * 1000 * 2 ** (attempt - 1)).unref?.());
      try {
        const response = await this.fetch(hook.url, {
          method: 'POST',
          headers,
          body: text,
          redirect: 'manual',
          signal: AbortSignal.timeout(hook.timeoutSeconds * 1000),
        });
        // The body is not used: a little is read (a short one frees the connection for reuse), never kept.
        await discardBody(response, RESPONSE_BODY_MAX_BYTES);
        if (response.status >= 300 && response.status < 400) {
          // Not followed, not retried: the answer will not change, and the URL to fix is the operator's.
          const location = response.headers.get('location');
          const to = location ? ` to ${URL.canParse(location, hook.url) ? redact(new URL(location, hook.url).href) : '(invalid Location)'}` : '';
          lastProblem = `HTTP ${response.status} redirect${to} not followed (redirects are never followed: give the final URL in notifications.webhooks[].url)`;
          break;
        }
        if (response.ok) {
          metrics?.webhookDeliveriesTotal.inc({ event: body.event, outcome: 'delivered' });
          logger.debug({ url: redact(hook.url), event: body.event, status: response.status, attempt: attempt + 1 }, 'webhook delivered');
          return;
        }
        lastProblem = `HTTP ${response.status}`;
        if (response.status >= 400 && response.status < 500 && !RETRYABLE_4XX.has(response.status)) break;
      } catch (error) {
        const e = error as Error & { cause?: { code?: string; message?: string } };
        lastProblem =
          e.name === 'TimeoutError' ? `no answer within ${hook.timeoutSeconds} s (timeoutSeconds)` : `${e.cause?.code ?? e.cause?.message ?? e.message}`;
      }
    }
    metrics?.webhookDeliveriesTotal.inc({ event: body.event, outcome: 'failed' });
    logger.warn({ url: redact(hook.url), event: body.event, problem: lastProblem, attempts: hook.retries + 1 }, 'webhook notification not delivered');
  }
}

/** A URL for logs: credentials and query (which may hold a token) left out. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
