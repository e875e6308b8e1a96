/** Issue 27: a policy's bad return value is reported as it is — NaN as NaN, not "null" (JSON's word for it). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { plan } from '../../../src/policy/engine.js';
import { closePolicies, loadPolicies } from '../../../src/policy/loader.js';
import { host, state, vm } from '../policy/fixtures.js';

const hot = () => state([host('a'), host('b')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 0.9)]);

describe('a policy returning NaN', () => {
  for (const [returned, said] of [
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['-Infinity', '-Infinity'],
    ['"\\u001b[2J"', "'\\x1B[2J'"],
  ] as const) {
    it(`score returning ${returned} (in its worker) is reported as ${said}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vb-policy-nan-'));
      try {
        writeFileSync(join(dir, 'odd.mjs'), `export default { name: 'odd', score() { return ${returned}; } };\n`, { mode: 0o644 });
        const config = policySchema.parse({ policyDirs: [dir], policies: [{ name: 'balance' }, { name: 'odd' }] });
        const loaded = await loadPolicies(config);
        try {
          const result = await plan(hot(), { config, policies: loaded });
          expect(result.policyErrors[0]?.policy).toBe('odd');
          expect(result.policyErrors[0]?.message).toBe(`score returned ${said}, which is not what score must return`);
        } finally {
          await closePolicies(loaded);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
