/**
 * Run through the CLI: vitest imports modules through its own transformer, whose errors differ
 * from what Node and tsx report to a user running virt-balancer.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

async function checkConfigError(file: string, source: string): Promise<{ code: number; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vb-policy-'));
  await writeFile(join(dir, file), source);
  const config = join(dir, 'config.yaml');
  await writeFile(config, `hosts: [{ name: kvm1, uri: "qemu:///system" }]\npolicy:\n  policyDirs: [${dir}]\n  policies: [ { name: bad } ]\n`);
  return promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'check-config', '-c', config], { cwd: root }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
}

describe("a policy module's syntax error keeps its location", () => {
  const broken = "export default {\n  name: 'bad',\n  filter(vm) {\n    return vm.tags.includes('x' ? 'no' : true;\n  },\n};\n";

  it('TypeScript: file:line:column and the error', async () => {
    const { code, stderr } = await checkConfigError('bad.ts', broken);
    expect(code).toBe(2);
    expect(stderr).toMatch(/bad\.ts:4:\d+: ERROR: Expected "\)" but found ";"/);
  });

  it('JavaScript: file:line and the offending code, which Node leaves out of the import error', async () => {
    const { code, stderr } = await checkConfigError('bad.mjs', broken);
    expect(code).toBe(2);
    expect(stderr).toContain("bad.mjs:4 (return vm.tags.includes('x' ? 'no' : true;): missing ) after argument list");
  });
});
