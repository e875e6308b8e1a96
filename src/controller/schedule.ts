/** The loop's node-cron schedule: checked, its period for health checks, and its next run times, in loop.timezone. */
import cron from 'node-cron';

/** node-cron's timezone option for loop.timezone: `local` is the process's own zone (node-cron's default). */
export function cronTimezone(timezone: string): string | undefined {
  return timezone === 'local' ? undefined : timezone;
}

/** The next `count` run times of `expression` read in `timezone` (loop.timezone), as node-cron computes them. */
export function nextRuns(expression: string, timezone: string, count: number): Date[] {
  const task = cron.createTask(expression, () => {}, { timezone: cronTimezone(timezone) });
  try {
    return task.getNextRuns(count);
  } finally {
    task.destroy();
  }
}

export function validateSchedule(expression: string): string | undefined {
  return cron.validate(expression)
    ? undefined
    : `loop.schedule "${expression}" is not a valid cron expression (six fields with seconds first, e.g. "*/30 * * * * *", or five from minutes, e.g. "*/5 * * * *")`;
}

/** Next run times looked at: enough to see the longest gap of an uneven schedule (*\/7 seconds wraps at the minute). */
const RUNS_LOOKED_AT = 12;

/**
 * The longest gap between ticks of a schedule, seconds, from its next run times as node-cron
 * computes them: five fields (minutes) and six (seconds) alike, so /healthz never calls a
 * `*\/5 * * * *` schedule late after 60 s.
 */
export function schedulePeriodSeconds(expression: string, timezone = 'UTC'): number {
  const runs = nextRuns(expression, timezone, RUNS_LOOKED_AT).map((d) => d.getTime());
  let longestMs = 0;
  for (let i = 1; i < runs.length; i++) longestMs = Math.max(longestMs, runs[i] - runs[i - 1]);
  return longestMs / 1000;
}
