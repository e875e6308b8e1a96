/**
 * Issue 27 R5: every import of a custom policy module is checked — the first and each fresh
 * worker after a timeout — so a file made writable by others after the start never runs.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { closePolicies, loadPolicies, type LoadedPolicy } from '../../../src/policy/loader.js';
import { host, state, vm } from '../policy/fixtures.js';

let loaded: LoadedPolicy[] = [];
let dir = '';
afterEach(async () => {
  await closePolicies(loaded);
  loaded = [];
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const hot = () => state([host('a'), host('b'), host('c')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 0.9)]);

describe('the permission check on every policy load (R5)', () => {
  for (const [what, change] of [
    ['the file made world-writable', (d: string) => chmodSync(join(d, 'looper.mjs'), 0o666)],
    ['its directory made group-writable', (d: string) => chmodSync(d, 0o775)],
  ] as const) {
    it(`after a policy timeout, ${what}: the fresh worker is refused before the module is imported`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'vb-policy-recheck-'));
      chmodSync(dir, 0o755);
      const imports = join(dir, 'imports.log');
      writeFileSync(imports, '');
      writeFileSync(
        join(dir, 'looper.mjs'),
        `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(imports)}, 'imported\\n');\nexport default { name: 'looper', score() { for (;;) {} } };\n`,
        { mode: 0o644 },
      );
      const config = policySchema.parse({ policyDirs: [dir], policyTimeoutMs: 300, policies: [{ name: 'balance' }, { name: 'looper' }] });
      loaded = await loadPolicies(config);
      const first = await plan(hot(), { config, policies: loaded });
      expect(first.policyErrors[0]?.message).toMatch(/did not return within 300 ms/);
      expect(readFileSync(imports, 'utf8')).toBe('imported\n');
      change(dir);
      const second = await plan(hot(), { config, policies: loaded });
      expect(second.policyErrors[0]?.policy).toBe('looper');
      expect(second.policyErrors[0]?.message).toMatch(/is writable by (group|others).*chmod go-w/);
      // Never imported again: the check ran before the worker.
      expect(readFileSync(imports, 'utf8')).toBe('imported\n');
    }, 30_000);
  }
});
