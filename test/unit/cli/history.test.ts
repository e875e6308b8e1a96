import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

describe('history --limit', () => {
  it('refuses 0, a negative number and a word, naming the value and what to give (-1 used to drop the first entry)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-history-'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.14.250:1/system" }\nstateDir: ${dir}\n`);
    const run = promisify(execFile);
    for (const limit of ['0', '-1', 'abc']) {
      const result = await run(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'history', '-c', config, `--limit=${limit}`], {
        cwd: root,
      }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(result.code, limit).toBe(1);
      expect(result.stderr).toContain(`--limit is "${limit}"; give a whole number of entries, 1 or more`);
    }
  }, 60_000);
});
