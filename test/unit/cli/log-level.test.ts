import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { runCli as cli } from './run-cli.js';
import * as approve from '../../../src/cli/commands/approve.js';
import * as drain from '../../../src/cli/commands/drain.js';
import * as migrate from '../../../src/cli/commands/migrate.js';
import * as place from '../../../src/cli/commands/place.js';
import * as plan from '../../../src/cli/commands/plan.js';
import * as run from '../../../src/cli/commands/run.js';
import * as status from '../../../src/cli/commands/status.js';

describe('--log-level and the log lines of interactive commands', () => {
  it('status with an unreachable host: its warning is one readable line on stderr (no pino JSON), once; --log-level error hides it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-log-'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.24.250:1/system" }\nstateDir: ${dir}\n`);
    const warned = await cli(['status', '-c', config, '--sample-seconds', '1.5']);
    expect(warned.code).toBe(1);
    expect(warned.stderr).not.toContain('{"level"');
    const lines = warned.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('virt-balancer: warning: libvirt host unreachable; marked down (host: kvm1;'))).toHaveLength(1);
    expect(lines.at(-1)).toBe('virt-balancer: no host could be read (kvm1: reasons above)');
    const quiet = await cli(['status', '-c', config, '--sample-seconds', '1.5', '--log-level', 'error']);
    expect(quiet.stderr.trim()).toBe('virt-balancer: no host could be read (kvm1: reasons above)');
  }, 60_000);

  it('every command that logs takes --log-level with the same choices (interactive ones default to warn; run to log.level)', async () => {
    const program = new Command();
    for (const m of [run, status, plan, drain, migrate, approve, place]) m.register(program);
    for (const command of program.commands) {
      const option = command.options.find((o) => o.long === '--log-level');
      expect(option?.argChoices, command.name()).toEqual(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
      expect(option?.defaultValue, command.name()).toBe(command.name() === 'run' ? undefined : 'warn');
    }
    expect(program.commands).toHaveLength(7);
    const bad = await cli(['plan', '-c', 'x.yaml', '--log-level', 'loud']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("argument 'loud' is invalid. Allowed choices are fatal, error, warn, info, debug, trace, silent");
  }, 120_000);
});
