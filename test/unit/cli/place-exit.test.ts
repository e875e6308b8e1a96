/** `place` tells "no host fits" from "no host could be read" in its words and its exit status. */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { noPlacement, PLACE_EXIT } from '../../../src/cli/commands/place.js';

const root = join(import.meta.dirname, '../../..');
const vm = { name: 'web3', vcpus: 2, memoryMib: 4096 };

describe('place without a placement', () => {
  it('every host unreachable: says so, not "No host fits", exit 4', () => {
    expect(
      noPlacement(
        {
          hosts: [
            { name: 'kvm1', up: false },
            { name: 'kvm2', up: false },
          ],
        } as never,
        vm,
      ),
    ).toEqual({
      line: 'No host could be read (kvm1, kvm2 unreachable), so none was judged for web3: the reasons are below; this is not a capacity answer.',
      exitCode: 4,
    });
  });

  it('hosts read and refused: "No host fits", naming the unreadable ones, exit 3', () => {
    expect(
      noPlacement(
        {
          hosts: [
            { name: 'kvm1', up: true },
            { name: 'kvm2', up: false },
          ],
        } as never,
        vm,
      ),
    ).toEqual({
      line: 'No host fits web3 (2 vCPUs, 4096 MiB); kvm2 could not be read and was not judged.',
      exitCode: PLACE_EXIT.noHostFits,
    });
    expect(noPlacement({ hosts: [{ name: 'kvm1', up: true }] } as never, vm).line).toBe('No host fits web3 (2 vCPUs, 4096 MiB).');
  });

  it('through the CLI: an unreachable cluster exits 4 with that line first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-place-'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.24.250:1/system" }\nstateDir: ${dir}\n`);
    const result = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'place', '-c', config, '--vcpus', '1', '--memory-mib', '512', '--log-level', 'error'],
      { cwd: root },
    ).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(result.code).toBe(4);
    expect(result.stdout.split('\n')[0]).toBe(
      'No host could be read (kvm1 unreachable), so none was judged for new-vm: the reasons are below; this is not a capacity answer.',
    );
  }, 60_000);
});

describe('docs/cli.md', () => {
  it('documents the exit status of every command, place with its own two', async () => {
    const { cliReference } = await import('../../../scripts/gen-docs.js');
    const text = await cliReference();
    const section = text.slice(text.indexOf('## Exit status'), text.indexOf('## virt-balancer run'));
    for (const command of ['run', 'status', 'plan', 'migrate', 'drain', 'approve', 'place', 'check-config', 'history', 'recommendations', 'simulate'])
      expect(section, command).toContain(`\`${command}\``);
    expect(section).toContain('| `place` | 3 when no host fits (every host that could be read refused it); 4 when no host could be read');
  });
});
