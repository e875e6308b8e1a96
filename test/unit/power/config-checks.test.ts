import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigFile } from '../../../src/controller/workflows/check-config.js';
import { describeEntry } from '../../../src/cli/commands/history.js';
import { PowerManager } from '../../../src/power/manager.js';
import { createLogger } from '../../../src/log/logger.js';
import { parseConfig } from '../../../src/config/index.js';
import type { JournalEntry } from '../../../src/history/index.js';
import { problemsOf } from '../config/problems.js';

const hosts = [
  { name: 'a', uri: 'qemu+tcp://10.0.0.1/system' },
  { name: 'b', uri: 'qemu+tcp://10.0.0.2/system' },
];
const withPower = (power: Record<string, unknown>) => ({ hosts, policy: { goal: 'consolidate' }, power });

describe('power config refuses what would be accepted and then ignored or fail late', () => {
  it('relative program paths: absolute path or a bare name on PATH', () => {
    expect(problemsOf(withPower({ action: 'command', powerOffCommand: ['./poweroff.sh', '{name}'], powerOnCommand: ['bin/poweron'] }))).toEqual([
      {
        path: 'power.powerOffCommand[0]',
        message:
          "is a relative path (./poweroff.sh): it would be taken from the service's working directory, not the config's; give an absolute path (e.g. /usr/local/bin/poweroff.sh), or a bare name found on PATH",
      },
      {
        path: 'power.powerOnCommand[0]',
        message:
          "is a relative path (bin/poweron): it would be taken from the service's working directory, not the config's; give an absolute path (e.g. /usr/local/bin/poweron), or a bare name found on PATH",
      },
    ]);
    expect(problemsOf(withPower({ action: 'command', powerOffCommand: ['ipmitool'], powerOnCommand: ['/usr/bin/wakeonlan'] }))).toEqual([]);
  });

  it('action none with commands, or suspend with another action', () => {
    expect(problemsOf(withPower({ action: 'none', powerOffCommand: ['/bin/true'], powerOnCommand: ['/bin/true'] })).map((p) => p.path)).toEqual([
      'power.powerOffCommand',
      'power.powerOnCommand',
    ]);
    expect(problemsOf(withPower({ action: 'none', powerOnCommand: ['/bin/true'] }))[0]?.message).toBe(
      'is not used with action none (no host is powered down or woken); remove it, or set action: command (or node-suspend) to use it',
    );
    expect(problemsOf(withPower({ suspend: { target: 'mem' } }))).toEqual([
      { path: 'power.suspend', message: 'is read only with action node-suspend (action is none); remove it, or set power.action: node-suspend' },
    ]);
    expect(problemsOf(withPower({ action: 'command', powerOffCommand: ['off'], powerOnCommand: ['on'], suspend: {} })).map((p) => p.path)).toEqual([
      'power.suspend',
    ]);
    expect(problemsOf(withPower({ action: 'node-suspend', powerOnCommand: ['wakeonlan'], suspend: { target: 'disk' } }))).toEqual([]);
  });

  it('an empty powerOnCommand: says "an empty list" and shows a power-on example', () => {
    expect(problemsOf(withPower({ action: 'command', powerOffCommand: ['off'], powerOnCommand: [] }))).toEqual([
      { path: 'power.powerOnCommand', message: 'is an empty list; give at least the program, e.g. ["ipmitool", "-H", "{address}", "chassis", "power", "on"]' },
    ]);
  });

  it('check-config: the programs must exist and be executable (absolute, or a bare name on PATH)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-power-prog-'));
    const script = join(dir, 'poweroff.sh');
    await writeFile(script, '#!/bin/sh\nexit 0\n');
    await chmod(script, 0o644);
    const file = join(dir, 'config.yaml');
    await writeFile(
      file,
      `hosts:\n  - { name: a, uri: "qemu+tcp://10.0.0.1/system" }\n  - { name: b, uri: "qemu+tcp://10.0.0.2/system" }\npolicy: { goal: consolidate }\n` +
        `power:\n  action: command\n  powerOffCommand: [${script}, "{name}"]\n  powerOnCommand: [nosuchprog-vb-xyz, "{name}"]\n`,
    );
    const { problems } = await checkConfigFile(file);
    expect(problems).toEqual([
      {
        path: 'power.powerOffCommand[0]',
        message: `${script} is not executable by this user (uid ${process.getuid!()}); chmod +x it, or run it through its interpreter; give the program's absolute path, or a bare name found on PATH`,
      },
      {
        path: 'power.powerOnCommand[0]',
        message: "nosuchprog-vb-xyz is not found on this user's PATH; install it, or give its absolute path (the service's PATH may differ from your shell's)",
      },
    ]);
    await chmod(script, 0o755);
    await writeFile(file, (await import('node:fs')).readFileSync(file, 'utf8').replace('nosuchprog-vb-xyz', 'sh'));
    expect((await checkConfigFile(file)).problems).toEqual([]);
  });

  it('a program that cannot be started: history shows the spawn error, not "exit null"', async () => {
    const config = parseConfig(withPower({ action: 'command', powerOffCommand: ['/nonexistent/poweroff'], powerOnCommand: ['/bin/true'] }));
    const journal: JournalEntry[] = [];
    const manager = new PowerManager(config, {
      journal: { append: async (e) => void journal.push(e) },
      logger: createLogger({ level: 'silent' }),
      connection: () => undefined,
    });
    manager.carryOut([{ host: 'b', action: 'power-off', reason: 'emptied' }], false);
    await manager.idle();
    const failed = journal.at(-1)!;
    expect(failed).toMatchObject({ event: 'failed' });
    expect((failed as { exitCode?: unknown }).exitCode).toBeUndefined();
    const detail = describeEntry(failed).at(-1)!;
    expect(detail).not.toContain('exit null');
    expect(detail).toMatch(/^\d+\.\d s, \/nonexistent\/poweroff could not be run \(ENOENT/);
  });
});
