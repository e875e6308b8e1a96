import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

describe('check-config and a policy list that drops default policies', () => {
  it('says what stops happening for each one left out (a user who lists balance to change its weight loses maintenance draining)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-check-'));
    const config = join(dir, 'config.yaml');
    await writeFile(
      config,
      `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.14.250:1/system" }\nstateDir: ${dir}\npolicy:\n  policies: [{ name: balance, weight: 2 }, { name: pin }]\n`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'check-config', '-c', config], {
      cwd: root,
    });
    expect(stdout).toMatch(/: OK \(1 hosts; policies balance, pin;/);
    expect(stdout).toContain('note: policy maintenance is not enabled in policy.policies, so hosts in maintenance are not drained');
    expect(stdout).toContain('note: policy affinity is not enabled');
    expect(stdout).not.toContain('note: policy pin ');
  }, 60_000);
});
