import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

describe('output into a pipe the reader closed early', () => {
  it('`check-config | true`: no EPIPE stack trace on stderr, the command exits with its own status', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-pipe-'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.24.250:1/system" }\nstateDir: ${dir}\n`);
    // `true` exits before the CLI has loaded, so every write meets a closed pipe.
    const script = '"$NODE" --import tsx src/cli/main.ts check-config -c "$CONFIG" | true; echo "status=$PIPESTATUS" >&2'; // $PIPESTATUS: the first command's status
    const { stderr } = await promisify(execFile)('bash', ['-c', script], { cwd: root, env: { ...process.env, NODE: process.execPath, CONFIG: config } });
    expect(stderr).not.toContain('EPIPE');
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n').at(-1)).toBe('status=0');
  }, 60_000);

  it('`status | true` with no host readable still exits 1: a closed pipe does not turn a failure into success', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-pipe-'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.24.250:1/system" }\nstateDir: ${dir}\n`);
    const script = '"$NODE" --import tsx src/cli/main.ts status -c "$CONFIG" --sample-seconds 1 2>&1 | true; echo "status=$PIPESTATUS" >&2';
    const { stderr } = await promisify(execFile)('bash', ['-c', script], { cwd: root, env: { ...process.env, NODE: process.execPath, CONFIG: config } });
    expect(stderr.trim().split('\n').at(-1)).toBe('status=1');
  }, 60_000);
});
