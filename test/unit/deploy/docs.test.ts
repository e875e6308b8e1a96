import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { configReference, generated } from '../../../scripts/gen-docs.js';
import { repoRoot } from './tools.js';

/** The generated pages, made once for this file (the policy API page parses TypeScript). */
let pages: ReturnType<typeof generated> | undefined;
const generatedOnce = () => (pages ??= generated());

describe('generated reference docs', () => {
  it('are up to date with the schema, the metric catalogue and the commands (run `npm run docs`)', async () => {
    const files = await generatedOnce();
    expect(Object.keys(files)).toEqual([
      'docs/config-reference.md',
      'docs/scenario-reference.md',
      'docs/metrics.md',
      'docs/cli.md',
      'docs/policy-api.md',
      'docs/api.md',
      'docs/openapi.json',
    ]);
    for (const [file, text] of Object.entries(files)) expect(readFileSync(join(repoRoot, file), 'utf8'), `${file} is stale: run npm run docs`).toBe(text);
  });

  it('describe each config field with its own text, type and default', async () => {
    const reference = (await generatedOnce())['docs/config-reference.md'];
    expect(reference).toContain('| `policy.cooldownSeconds` | number (>= 0, <= 2147483) | `600` | A VM that moved is left alone this long. |');
    // Same field name, different meaning per section.
    expect(reference).toContain(
      '| `policy.policies[].name` | string | **required** | Policy name: a built-in from policies/ or a module found in one of policyDirs. |',
    );
    expect(reference).toContain("| `migration.bandwidthMiBps` | number (>= 0) | `0` | Bandwidth limit per migration; 0 means unlimited (libvirt's default). |");
    expect(reference).toContain(
      '| `policy.bandwidthMiBps` | number (> 0) | `1000` | Migration bandwidth the cost model assumes when nothing better is known. |',
    );
    expect(reference).toContain('| `log.level` | "fatal" \\| "error" \\| "warn" \\| "info" \\| "debug" \\| "trace" \\| "silent" | `"info"` |');
  });

  it('refuse a config field without a description, naming it', () => {
    const schema = z.strictObject({ hosts: z.array(z.strictObject({ name: z.string().describe('Name.'), weight: z.number().default(1) })).describe('Hosts.') });
    expect(() => configReference(schema)).toThrow("fields without a description: hosts[].weight; add .describe('...') to them in src/config/");
  });

  it('list every metric with its type and labels', async () => {
    const metrics = (await generatedOnce())['docs/metrics.md'];
    expect(metrics).toContain('| `virt_balancer_migrations_total` | counter | `technique`, `outcome`, `tls` |');
    expect(metrics).toContain('| `virt_balancer_migration_downtime_seconds` | histogram | `technique`, `tls` |');
  });

  it('document what a policy sees, each field with its type and unit, VM tags beside host labels', async () => {
    const api = (await generatedOnce())['docs/policy-api.md'];
    for (const section of ['Policy', 'Candidate', 'PolicyContext', 'ProjectedHost', 'VmObservation', 'HostObservation', 'WindowedValue', 'ClusterState'])
      expect(api).toContain(`## ${section}\n`);
    expect(api).toContain('| `memoryTotalBytes` | `number` | bytes | Memory the host offers to guests, bytes');
    expect(api).toContain('| `dirtyRateMiBps` (optional) | `number` | MiB/s |');
    expect(api).toContain('| `tags` | `string[]` |  | Tags from libvirt metadata');
    expect(api).toContain('| `labels` | `Record<string, string>` |  | Labels from config');
    expect(api).toContain('| `definePolicy(policy: P)` |');
  });

  it('cover every command', async () => {
    const cli = (await generatedOnce())['docs/cli.md'];
    for (const command of ['run', 'status', 'plan', 'migrate', 'drain', 'history', 'simulate', 'check-config'])
      expect(cli).toContain(`## virt-balancer ${command}`);
  });
});
