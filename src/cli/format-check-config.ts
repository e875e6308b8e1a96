/** How `check-config` prints a run time of the schedule. */

/** `2026-12-07 14:00:30 Europe/Berlin (13:00:30 UTC)`: a run time in the schedule's zone, and in UTC unless that is it. */
export function formatRun(at: Date, timezone: string): string {
  const zone = timezone === 'local' ? undefined : timezone;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const local = `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
  const utc = at.toISOString().slice(11, 19);
  const name = zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  return name === 'UTC' ? `${local} UTC` : `${local} ${name} (${utc} UTC)`;
}
