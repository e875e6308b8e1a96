import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as cli } from './run-cli.js';
import type { CoreFilterInput } from '../../../src/policy/core-filters.js';
import { CORE_FILTERS } from '../../../src/policy/core-filters.js';
import { host } from '../policy/fixtures.js';

describe('a standby host in status and plan', () => {
  it('status: its unreachability is not a warning (the journal says standby), another down host still warns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-standby-'));
    const config = join(dir, 'config.yaml');
    // Loopback addresses with nothing listening on port 1: both hosts are unreachable.
    await writeFile(
      config,
      `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.24.251:1/system" }\n  - { name: kvm2, uri: "qemu+tcp://127.0.24.252:1/system" }\n` +
        `stateDir: ${dir}\npolicy: { goal: consolidate }\npower: { action: command, powerOffCommand: [/bin/true], powerOnCommand: [/bin/true] }\n`,
    );
    const at = Date.parse('2026-11-30T20:00:00Z');
    await writeFile(
      join(dir, 'journal.jsonl'),
      [
        { type: 'power', atMs: at - 60_000, method: 'command', host: 'kvm2', action: 'power-off', event: 'requested' },
        { type: 'power', atMs: at, method: 'command', host: 'kvm2', action: 'power-off', event: 'done' },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n') + '\n',
    );
    const r = await cli(['status', '-c', config, '--sample-seconds', '0.5']);
    const warnings = r.stderr
      .trim()
      .split('\n')
      .filter((l) => l.includes('marked down'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('host: kvm1;');
    expect(r.stdout).toMatch(/kvm2\s+standby since 2026-11-30T20:00:00.000Z \(power action; not an alarm\)/);
  }, 60_000);

  it('the host-up core filter says "is standby since ... (power action ...)", not "is down"', () => {
    const hostUp = CORE_FILTERS.find((f) => f.name === 'host-up')!;
    const standby = host('lab2', { up: false, power: 'standby', downReason: 'standby since 2026-11-30T20:00:00.000Z (power action; not an alarm)' });
    expect(hostUp.filter({ target: standby } as CoreFilterInput)).toBe('lab2 is standby since 2026-11-30T20:00:00.000Z (power action; not an alarm)');
    expect(hostUp.filter({ target: host('lab3', { up: false, downReason: 'connection refused' }) } as CoreFilterInput)).toBe(
      'lab3 is down (connection refused)',
    );
  });
});
