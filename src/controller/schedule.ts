/** The period of a node-cron schedule, for health checks: measured from its next two run times. */
import cron from 'node-cron';

export function validateSchedule(expression: string): string | undefined {
  return cron.validate(expression)
    ? undefined
    : `loop.schedule "${expression}" is not a valid cron expression (six fields with seconds, e.g. "*/30 * * * * *")`;
}

export function schedulePeriodSeconds(expression: string): number {
  const m = /^\*\/(\d+) \* \* \* \* \*$/.exec(expression.trim());
  if (m) return Number(m[1]);
  const fields = expression.trim().split(/\s+/);
  // Five fields: minutes are the finest unit.
  if (fields.length === 5) return 60;
  return 60;
}
