import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

describe('run --once', () => {
  it('exits 1 naming the hosts when none could be read (it logged "one tick done" and exited 0)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-once-'));
    const config = join(dir, 'config.yaml');
    // Loopback addresses with nothing listening on port 1.
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.14.253:1/system" }\nstateDir: ${dir}\nmetrics: { listen: "" }\n`);
    const run = promisify(execFile);
    const result = await run(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'run', '--once', '-c', config, '--log-level', 'silent'], {
      cwd: root,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no host could be read \(kvm1: .*connection refused.*\); nothing was planned/);
  }, 60_000);
});
