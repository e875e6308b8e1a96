import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { planJson, renderPlan } from '../../../src/cli/commands/plan.js';
import type { Plan } from '../../../src/policy/plan-types.js';
import { host } from '../policy/fixtures.js';

const emptyPlan: Plan = { basedOnObservedAtMs: 0, moves: [], skipped: [], imbalanceBefore: 0, imbalanceAfter: 0, policyErrors: [] };
const root = join(import.meta.dirname, '../../..');

describe('plan reports hosts it could not read', () => {
  it('in text and --json', () => {
    const state = { hosts: [host('kvm1'), host('kvm2', { up: false, downReason: 'connection refused by 10.0.0.12:16509' })] };
    const text = renderPlan(emptyPlan, state);
    expect(text).toMatch(/^Not read/);
    expect(text).toContain('kvm2  connection refused by 10.0.0.12:16509');
    expect(planJson(emptyPlan, state).hosts).toEqual([
      { host: 'kvm1', up: true },
      { host: 'kvm2', up: false, downReason: 'connection refused by 10.0.0.12:16509' },
    ]);
  });

  it('shows the command an operator would run for a recommended power action', () => {
    const power = {
      actions: [
        {
          host: 'kvm3',
          action: 'power-off' as const,
          reason: 'consolidate: kvm3 holds no VM',
          mode: 'recommended' as const,
          command: 'ipmitool -H 10.9.0.13 chassis power soft',
        },
      ],
      held: [],
      hosts: [],
    };
    expect(renderPlan(emptyPlan, { hosts: [host('kvm3')] }, power)).toContain('to power-off kvm3 by hand: ipmitool -H 10.9.0.13 chassis power soft');
    expect(planJson(emptyPlan, undefined, power).power?.actions[0]).toMatchObject({ command: 'ipmitool -H 10.9.0.13 chassis power soft' });
  });

  it('shows standby hosts apart from unreachable ones, and the planned power actions with their reason (text and --json)', () => {
    const state = {
      hosts: [
        host('kvm1'),
        host('kvm2', { up: false, power: 'standby' as const, downReason: 'standby since 2026-11-30T20:00:00.000Z (power action; not an alarm)' }),
        host('kvm3'),
      ],
    };
    const power = {
      actions: [{ host: 'kvm3', action: 'power-off' as const, reason: 'consolidate: kvm3 holds no VM', mode: 'recommended' as const }],
      held: [{ host: 'kvm2', reason: 'held: standby for 60 s' }],
      hosts: [{ host: 'kvm2', state: 'standby', sinceMs: 0 }],
    };
    const text = renderPlan(emptyPlan, state, power);
    expect(text).toMatch(/^Standby \(down on purpose by a power action; no target until woken, not an alarm\):/);
    expect(text).not.toContain('Not read');
    expect(text).toContain('kvm2  standby since 2026-11-30T20:00:00.000Z (power action; not an alarm)');
    expect(text).toMatch(
      /Power actions:\n.*\n.*\nkvm3 {2}power-off {2}recommended \(policy.automation\) {2}consolidate: kvm3 holds no VM\nheld: kvm2: held: standby for 60 s$/,
    );
    expect(planJson(emptyPlan, state, power)).toMatchObject({
      hosts: [
        { host: 'kvm1', up: true },
        { host: 'kvm2', up: false, power: 'standby' },
        { host: 'kvm3', up: true },
      ],
      power: { actions: [{ host: 'kvm3', action: 'power-off', mode: 'recommended', reason: 'consolidate: kvm3 holds no VM' }], held: power.held },
    });
  });

  it('exits non-zero when no host could be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-plan-'));
    const config = join(dir, 'config.yaml');
    // Loopback addresses of this developer's own prefix with nothing listening on port 1.
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.14.250:1/system" }\nstateDir: ${dir}\nlog: { level: silent }\n`);
    const run = promisify(execFile);
    const result = await run(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'plan', '-c', config, '--json'], { cwd: root }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).hosts).toEqual([{ host: 'kvm1', up: false, downReason: expect.stringContaining('connection refused') }]);
    expect(result.stderr).toContain('no host could be read (kvm1');
  });

  it('status too exits non-zero when no host could be read, after showing each host down', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-status-'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.14.250:1/system" }\nstateDir: ${dir}\nlog: { level: silent }\n`);
    const run = promisify(execFile);
    const result = await run(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'status', '-c', config, '--json', '--sample-seconds', '0.2'],
      { cwd: root },
    ).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).hosts[0]).toMatchObject({ name: 'kvm1', up: false });
    expect(result.stderr).toContain('no host could be read (kvm1');
  });
});
