import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { expandCommand, operatorCommand, powerTarget, runCommand, shellQuote } from '../../../src/power/command.js';

const node = process.execPath;

describe('power commands', () => {
  it("templates {name}, {address} (powerAddress, else the URI's host) and {uri}, each element one argument", () => {
    const t = powerTarget({ name: 'kvm 1;rm', uri: 'qemu+ssh://root@10.1.0.7/system' });
    expect(t).toEqual({ name: 'kvm 1;rm', address: '10.1.0.7', uri: 'qemu+ssh://root@10.1.0.7/system' });
    expect(expandCommand(['ipmi', '-H', '{address}', 'x={name}', '{uri}'], t)).toEqual([
      'ipmi',
      '-H',
      '10.1.0.7',
      'x=kvm 1;rm',
      'qemu+ssh://root@10.1.0.7/system',
    ]);
    expect(powerTarget({ name: 'k', uri: 'qemu:///system', powerAddress: 'aa:bb' }).address).toBe('aa:bb');
    expect(powerTarget({ name: 'k', uri: 'qemu:///system' }).address).toBe('k');
  });

  it('shows a recommended action as the shell-quoted command an operator would run', () => {
    expect(shellQuote('10.9.0.11')).toBe('10.9.0.11');
    expect(shellQuote('{"ResetType": "On"}')).toBe(`'{"ResetType": "On"}'`);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    const power = configSchema.parse({
      hosts: [
        { name: 'a', uri: 'qemu+tcp://10.0.0.1/system' },
        { name: 'b', uri: 'qemu+tcp://10.0.0.2/system' },
      ],
      policy: { goal: 'consolidate' },
      power: {
        action: 'command',
        powerOffCommand: ['curl', '-d', '{"ResetType": "GracefulShutdown"}', 'https://{address}/reset'],
        powerOnCommand: ['wakeonlan', '{address}'],
      },
    }).power;
    const kvm = { name: 'kvm 2', uri: 'qemu+ssh://root@10.1.0.7/system', powerAddress: '10.9.0.12' };
    expect(operatorCommand('power-off', kvm, power)).toBe(`curl -d '{"ResetType": "GracefulShutdown"}' https://10.9.0.12/reset`);
    expect(operatorCommand('power-on', kvm, power)).toBe('wakeonlan 10.9.0.12');
    // node-suspend: virsh's equivalent of virNodeSuspendForDuration.
    expect(operatorCommand('power-off', kvm, { ...power, action: 'node-suspend', powerOffCommand: undefined })).toBe(
      'virsh -c qemu+ssh://root@10.1.0.7/system nodesuspend mem 3600',
    );
  });

  it('runs without a shell and captures the exit status and stderr', async () => {
    // No shell: the `; echo` part is an argument like any other.
    const ok = await runCommand([node, '-e', 'console.log(process.argv[1])', 'a; echo injected'], 10_000);
    expect(ok).toMatchObject({ ok: true, exitCode: 0 });
    const failed = await runCommand([node, '-e', 'process.stderr.write("BMC refused\\n"); process.exit(3)'], 10_000);
    expect(failed).toMatchObject({ ok: false, exitCode: 3, stderr: 'BMC refused', error: `${node} exited with status 3: BMC refused` });
    const missing = await runCommand(['/nonexistent/wakeonlan', 'x'], 10_000);
    expect(missing.ok).toBe(false);
    expect(missing.error).toMatch(/^\/nonexistent\/wakeonlan could not be run \(ENOENT/);
  });

  it('kills a command past its timeout', async () => {
    const r = await runCommand([node, '-e', 'setTimeout(() => {}, 30000)'], 300);
    expect(r).toMatchObject({ ok: false, exitCode: null, signal: 'SIGKILL' });
    expect(r.error).toBe(`${node} still running after 0 s (power.commandTimeoutSeconds); killed`);
  });
});

describe('power config', () => {
  const base = {
    hosts: [
      { name: 'a', uri: 'qemu+tcp://10.0.0.1/system' },
      { name: 'b', uri: 'qemu+tcp://10.0.0.2/system' },
    ],
    policy: { goal: 'consolidate' },
  };
  const issues = (power: unknown, extra: Record<string, unknown> = {}) => {
    const r = configSchema.safeParse({ ...base, ...extra, power });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('defaults to none, and names the field and the fix for what is missing or wrong', () => {
    expect(configSchema.parse(base).power.action).toBe('none');
    expect(issues({ action: 'command', powerOnCommand: ['on'] })).toEqual([
      'power.powerOffCommand: is required with action command: the program and arguments that power a host down, e.g. ["ipmitool", "-H", "{address}", "chassis", "power", "soft"]',
    ]);
    expect(issues({ action: 'command', powerOffCommand: ['off', '{host}'], powerOnCommand: [] })).toEqual([
      'power.powerOffCommand.1: unknown placeholder {host} in "{host}"; the placeholders are {name}, {address}, {uri}',
      'power.powerOnCommand: is an empty list; give at least the program, e.g. ["ipmitool", "-H", "{address}", "chassis", "power", "on"]',
    ]);
    expect(issues({ action: 'command', powerOffCommand: ['off'], powerOnCommand: ['on'] }, { policy: { goal: 'balance' } })).toEqual([
      'power.action: is command, but policy.goal is balance: hosts are powered down only when consolidation empties them; set policy.goal: consolidate, or power.action: none',
    ]);
  });

  it("node-suspend: needs a wake command or an explicit wakeByAlarmOnly, and at least libvirt's 60 s", () => {
    expect(issues({ action: 'node-suspend' })).toEqual([
      'power.powerOnCommand: is required with action node-suspend: a suspended host wakes only by its RTC alarm after suspend.durationSeconds (3600 s), so without a wake command (e.g. ["wakeonlan", "{address}"]) capacity cannot be woken when needed; give one, or set suspend.wakeByAlarmOnly: true to accept that',
    ]);
    expect(issues({ action: 'node-suspend', suspend: { wakeByAlarmOnly: true } })).toEqual([]);
    expect(issues({ action: 'node-suspend', powerOnCommand: ['wakeonlan', '{address}'], suspend: { durationSeconds: 30 } })).toEqual([
      "power.suspend.durationSeconds: libvirt's minimum suspend duration is 60 s",
    ]);
    expect(issues({ action: 'node-suspend', powerOffCommand: ['x'], powerOnCommand: ['y'] })).toEqual([
      'power.powerOffCommand: is not used with action node-suspend (libvirt suspends the host); remove it, or set action: command',
    ]);
  });
});
