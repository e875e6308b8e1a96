import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generated } from '../../../scripts/gen-docs.js';

describe('generated reference docs', () => {
  it('are up to date with the schema, the metric catalogue and the commands (run `npm run docs`)', async () => {
    const files = await generated();
    expect(Object.keys(files)).toEqual(['docs/config-reference.md', 'docs/metrics.md', 'docs/cli.md']);
    for (const [file, text] of Object.entries(files)) expect(readFileSync(join(import.meta.dirname, '..', '..', '..', file), 'utf8'), file).toBe(text);
    expect(files['docs/config-reference.md']).toContain('| `policy.cooldownSeconds` | number (>= 0) | `600` | A VM that moved is left alone this long. |');
    expect(files['docs/metrics.md']).toContain('`virt_balancer_migrations_total` | counter | `technique`, `outcome`');
    for (const command of ['run', 'status', 'plan', 'migrate', 'drain', 'history', 'simulate', 'check-config', 'demo']) expect(files['docs/cli.md']).toContain(`## virt-balancer ${command}`);
  });
});
