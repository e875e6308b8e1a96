/**
 * What the controller tells webhooks (src/notifications/webhooks.ts), as plain data: a started
 * move, a migration's end (with a post-copy incident as its own event), and hosts entering or
 * leaving maintenance between two observations. The fields are documented in docs/operator-workflow.md, "Notifications: webhooks".
 */
import type { HostObservation } from '../cluster/model.js';
import type { NotificationEvent } from '../config/notifications-schema.js';
import { resultSummary, type MigrationResult } from '../executor/index.js';
import { moveIdentity, type Move } from '../policy/plan-types.js';

export interface EventToSend {
  event: NotificationEvent;
  data: Record<string, unknown>;
  atMs: number;
}

export function startedEvent(move: Move, atMs = Date.now()): EventToSend {
  return {
    event: 'migration.started',
    atMs,
    data: {
      ...moveIdentity(move),
      technique: move.technique,
      reason: move.reason,
      predicted: { totalSeconds: move.predicted.totalSeconds, downtimeMs: move.predicted.downtimeMs, bytes: move.predicted.bytes },
    },
  };
}

/**
 * The end of a migration: migration.completed, .failed or .aborted; plus postcopy.incident when it
 * had switched to post-copy and something went wrong after the switch (the guest's memory was split
 * between the hosts: recovered, or the VM needs attention, as `incident` says).
 */
export function resultEvents(r: MigrationResult): EventToSend[] {
  const data = {
    ...resultSummary(r),
    vmUuid: r.vmUuid,
    switchedToPostcopy: r.switchedToPostcopy,
    ...(r.adoptedAfterRestart ? { adoptedAfterRestart: true } : {}),
  };
  const events: EventToSend[] = [{ event: `migration.${r.outcome}`, atMs: r.endedAtMs, data }];
  if (r.switchedToPostcopy && (r.error || r.incident)) events.push({ event: 'postcopy.incident', atMs: r.endedAtMs, data });
  return events;
}

/**
 * Hosts whose maintenance flag changed since the last observation (`previous`: host name ->
 * maintenance). The first observation has no previous and sends nothing: a controller start is
 * not a change.
 */
export function maintenanceEvents(
  previous: ReadonlyMap<string, boolean> | undefined,
  hosts: readonly Pick<HostObservation, 'name' | 'maintenance'>[],
  atMs = Date.now(),
): EventToSend[] {
  if (!previous) return [];
  const events: EventToSend[] = [];
  for (const h of hosts) {
    const was = previous.get(h.name);
    if (was === undefined || was === h.maintenance) continue;
    events.push({ event: h.maintenance ? 'host.maintenance.entered' : 'host.maintenance.left', atMs, data: { host: h.name } });
  }
  return events;
}

/** Something that sends notification events (WebhookNotifier). */
export interface EventSink {
  notify(event: NotificationEvent, data: Record<string, unknown>, atMs?: number): void;
}

/**
 * Executor hooks that notify a migration's start and end: for the commands that run migrations
 * outside the daemon (`migrate`, `drain`, `approve`), so their moves notify like the daemon's.
 */
export function executorNotifications(sink: EventSink): { onStart(move: Move): void; onResult(r: MigrationResult): void } {
  const send = (events: EventToSend[]) => {
    for (const e of events) sink.notify(e.event, e.data, e.atMs);
  };
  return { onStart: (move) => send([startedEvent(move)]), onResult: (r) => send(resultEvents(r)) };
}
