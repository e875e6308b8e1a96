/** The `notifications:` section of the config: webhooks and the events each one receives (docs/operator-workflow.md, "Notifications: webhooks"). */
import { z } from 'zod';
import { seconds } from './durations.js';

/** Events a webhook can subscribe to. */
export const NOTIFICATION_EVENTS = [
  'migration.started',
  'migration.completed',
  'migration.failed',
  'migration.aborted',
  'postcopy.incident',
  'host.maintenance.entered',
  'host.maintenance.left',
  'maintenance.roll',
  'maintenance.step',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

export const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).describe('Where the JSON POST goes (http or https).'),
  events: z
    .array(z.enum(NOTIFICATION_EVENTS))
    .min(1)
    .default([...NOTIFICATION_EVENTS])
    .describe(`Events sent to this URL (default all): ${NOTIFICATION_EVENTS.join(', ')}.`),
  secret: z
    .string()
    .min(1)
    .optional()
    .describe('When set, each body is signed: header X-Virt-Balancer-Signature: sha256=<hex HMAC-SHA256 of the body with this secret>.'),
  timeoutSeconds: seconds().positive().default(5).describe('One attempt fails when the receiver has not answered within this long.'),
  retries: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(3)
    .describe('Attempts after the first when one fails (timeout, connection refused, HTTP 5xx, 408 or 429); other 4xx answers are not retried.'),
  retryDelaySeconds: seconds().positive().default(1).describe('Wait before the first retry; doubles for each further one.'),
});

export const notificationsSchema = z.strictObject({
  webhooks: z.array(webhookSchema).default([]).describe('Webhooks to POST events to; none by default.'),
});

export type WebhookConfig = z.infer<typeof webhookSchema>;
