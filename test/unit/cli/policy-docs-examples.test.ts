/**
 * docs/policies.md's policy author path, as written, from this clone without a build: each policy
 * example that imports 'virt-balancer/policy' is saved in a directory of its own outside the
 * repository, enabled with the page's "Enable it" config (only policyDirs pointed at that
 * directory), checked with `check-config` and run through `simulate` with a config that has no
 * `hosts:` (the scenario brings them). And a policy that fails to load is the same config error
 * (exit 2) for `check-config` and `simulate`.
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runCli } from './run-cli.js';

const page = readFileSync(join(import.meta.dirname, '../../../docs/policies.md'), 'utf8');
const blocks = (lang: string) => [...page.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);

const policyExamples = blocks('ts').filter((code) => /from 'virt-balancer\/policy'/.test(code));
const enableIt = blocks('yaml').find((code) => code.includes('policyDirs'));

/** A hot kvm1, an empty kvm2 and an empty kvm3 labelled gpu (what keep-off-label must keep VMs off). */
const scenario = `tickSeconds: 30
windowSamples: 3
hosts:
  - { name: kvm1, cpuCount: 8, memoryMiB: 65536 }
  - { name: kvm2, cpuCount: 8, memoryMiB: 65536 }
  - { name: kvm3, cpuCount: 8, memoryMiB: 65536, labels: { gpu: "a100" } }
vms:
  - { name: web1, host: kvm1, vcpus: 2, memoryMiB: 4096, cpu: 0.95 }
  - { name: web2, host: kvm1, vcpus: 2, memoryMiB: 4096, cpu: 0.95 }
  - { name: db1, host: kvm1, vcpus: 4, memoryMiB: 8192, cpu: 0.9 }
`;

async function policyDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vb-policy-docs-'));
  await chmod(dir, 0o755);
  return dir;
}

describe('docs/policies.md examples, as written, from a clone', () => {
  it('the page has a policy example importing virt-balancer/policy and an "Enable it" config that keeps the built-in policies', () => {
    expect(policyExamples.length).toBeGreaterThan(0);
    expect(enableIt).toBeDefined();
    const names = (parse(enableIt!) as { policy: { policies: { name: string }[] } }).policy.policies.map((p) => p.name);
    // The list replaces the default one (src/config/policy-schema.ts): every default stays listed.
    for (const builtin of ['balance', 'maintenance', 'pin', 'affinity']) expect(names, builtin).toContain(builtin);
  });

  it('each example loads (check-config) and runs in simulate without hosts: in the config; keep-off-label keeps VMs off the gpu host', async () => {
    for (const code of policyExamples) {
      const name = /name: '([^']+)'/.exec(code)![1];
      const dir = await policyDir();
      await writeFile(join(dir, `${name}.ts`), code, { mode: 0o644 });
      const config = parse(enableIt!) as { policy: { policyDirs: string[] } };
      config.policy.policyDirs = [dir];
      await writeFile(join(dir, 'my.yaml'), stringify(config));
      await writeFile(join(dir, 'scenario.yaml'), scenario);

      // check-config checks a config for `run`, which needs hosts: the page's policy section with one.
      await writeFile(join(dir, 'run.yaml'), stringify({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://127.0.54.250/system' }], ...config }));
      const checked = await runCli(['check-config', '--config', join(dir, 'run.yaml')]);
      expect(checked.stderr).toBe('');
      expect(checked.code).toBe(0);
      expect(checked.stdout).toContain(`policies balance, maintenance, pin, affinity, ${name};`);
      const simulated = await runCli(['simulate', '--config', join(dir, 'my.yaml'), '--scenario', join(dir, 'scenario.yaml'), '--ticks', '6', '--json']);
      expect(simulated.stderr).toBe('');
      expect(simulated.code).toBe(0);
      const ticks = JSON.parse(simulated.stdout) as { moves: { vm: string; to: string }[]; policyErrors: unknown[] }[];
      expect(ticks.flatMap((t) => t.policyErrors)).toEqual([]);
      const moves = ticks.flatMap((t) => t.moves);
      expect(moves.length, name).toBeGreaterThan(0);
      if (name === 'keep-off-label') expect(moves.map((m) => m.to)).not.toContain('kvm3');
    }
  }, 120_000);

  it('a policy that fails to load is a config error, exit 2, in check-config and in simulate alike', async () => {
    const dir = await policyDir();
    await writeFile(
      join(dir, 'broken.ts'),
      "import { definePolicy } from 'virt-balancer/policy';\nthrow new Error('broken on purpose');\nexport default definePolicy({ name: 'broken', filter: () => true });\n",
      {
        mode: 0o644,
      },
    );
    await writeFile(
      join(dir, 'my.yaml'),
      `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.54.250/system" }\npolicy:\n  policyDirs: [${dir}]\n  policies: [{ name: balance }, { name: broken }]\n`,
    );
    await writeFile(join(dir, 'scenario.yaml'), scenario);
    const checked = await runCli(['check-config', '--config', join(dir, 'my.yaml')]);
    const simulated = await runCli(['simulate', '--config', join(dir, 'my.yaml'), '--scenario', join(dir, 'scenario.yaml'), '--ticks', '1']);
    for (const result of [checked, simulated]) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`invalid config ${join(dir, 'my.yaml')}`);
      expect(result.stderr).toContain('broken on purpose');
    }
  }, 120_000);
});
