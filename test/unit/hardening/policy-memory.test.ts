/**
 * Issue 27 R10: a custom policy's worker is bounded in all its memory, not only its JS heap:
 * Buffers (outside V8's heap, which resourceLimits alone bounds) past policy.policyMemoryMiB stop
 * the worker, and the plan names the policy and the limit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

describe("a custom policy's memory (R10)", () => {
  it('Buffers past policy.policyMemoryMiB stop its worker; the plan names the policy and the limit', async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-policy-memory-'));
    // 16 MiB zero-filled Buffers kept, up to 1 GiB (the test's own bound), slowly enough for a 100 ms sampler.
    writeFileSync(
      join(dir, 'hog.mjs'),
      `const kept = [];
export default { name: 'hog', score() {
  for (let i = 0; i < 64; i++) { kept.push(Buffer.alloc(16 * 1024 * 1024, 1)); const until = Date.now() + 15; while (Date.now() < until) {} }
  return 0;
} };\n`,
      { mode: 0o644 },
    );
    const config = policySchema.parse({ policyDirs: [dir], policyTimeoutMs: 20_000, policyMemoryMiB: 128, policies: [{ name: 'balance' }, { name: 'hog' }] });
    loaded = await loadPolicies(config);
    const result = await plan(hot(), { config, policies: loaded });
    expect(result.policyErrors[0]?.policy).toBe('hog');
    expect(result.policyErrors[0]?.message).toMatch(
      /^score threw: used more than policy\.policyMemoryMiB \(128 MiB: heap, Buffers and ArrayBuffers; the process grew by \d+ MiB\) and its worker thread was stopped$/,
    );
    // The rest of that plan does not start it again.
    expect(result.policyErrors.slice(1).every((e) => e.policy === 'hog' && /not called: .*policyMemoryMiB/.test(e.message))).toBe(true);
  }, 60_000);

  it('policy.policyMemoryMiB defaults to 512 MiB', () => {
    expect(policySchema.parse({}).policyMemoryMiB).toBe(512);
  });
});
