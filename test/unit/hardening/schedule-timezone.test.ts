/**
 * Issue 27: loop.schedule is read in loop.timezone (default UTC, stated in the config reference),
 * not silently in the process's zone; check-config shows the next run times.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatRun } from '../../../src/cli/format-check-config.js';
import { configSchema } from '../../../src/config/schema.js';
import { nextRuns, schedulePeriodSeconds } from '../../../src/controller/schedule.js';
import { runCli } from '../cli/run-cli.js';
import { problemsOf } from '../config/problems.js';

const dir = mkdtempSync(join(tmpdir(), 'vb-tz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hosts = [{ name: 'kvm1', uri: 'qemu+tcp://10.0.0.11/system' }];

describe('loop.timezone', () => {
  it('defaults to UTC; an unknown zone is refused naming the field', () => {
    expect(configSchema.parse({ hosts }).loop.timezone).toBe('UTC');
    const problems = problemsOf({ hosts, loop: { timezone: 'Mars/Olympus_Mons' } });
    expect(problems).toEqual([
      {
        path: 'loop.timezone',
        message: "is not a time zone: give an IANA name such as UTC or Europe/Berlin (see timedatectl list-timezones), or local for the system's",
      },
    ]);
    expect(problemsOf({ hosts, loop: { timezone: 'local' } })).toEqual([]);
  });

  it('the schedule is read in that zone: 03:00 daily is 03:00 UTC by default, 08:00 UTC in New York in December', () => {
    const utc = nextRuns('0 0 3 * * *', 'UTC', 2);
    expect(utc.map((d) => d.toISOString().slice(11))).toEqual(['03:00:00.000Z', '03:00:00.000Z']);
    const ny = nextRuns('0 0 3 * * *', 'America/New_York', 1)[0]!;
    // 03:00 in New York is 07:00 or 08:00 UTC (daylight saving or not).
    expect([7, 8]).toContain(ny.getUTCHours());
    expect(formatRun(new Date('2026-12-08T08:00:00Z'), 'America/New_York')).toBe('2026-12-08 03:00:00 America/New_York (08:00:00 UTC)');
    expect(formatRun(new Date('2026-12-08T03:00:00Z'), 'UTC')).toBe('2026-12-08 03:00:00 UTC');
    expect(schedulePeriodSeconds('0 0 3 * * *', 'Europe/Berlin')).toBeGreaterThanOrEqual(23 * 3600);
  });

  it('check-config shows the zone and the next run times', async () => {
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.53.250:1/system" }\nstateDir: ${dir}\nloop: { schedule: "0 30 2 * * *", timezone: Asia/Tokyo }\n`,
    );
    const result = await runCli(['check-config', '-c', config]);
    expect(result.code).toBe(0);
    const line = result.stdout.split('\n').find((l) => l.startsWith('schedule: '));
    expect(line).toMatch(/^schedule: "0 30 2 \* \* \*" in Asia\/Tokyo; next runs: (\d{4}-\d\d-\d\d 02:30:00 Asia\/Tokyo \(17:30:00 UTC\)(, |$)){3}/);
  }, 60_000);
});
