/**
 * `approve` while a host does not answer: the recommendation is not checked, stays waiting and
 * can be approved later (a fresh user's `approve --all` during an outage refused every waiting
 * move for good as "stale").
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RecommendationStore } from '../../../src/executor/recommendations.js';
import type { Move } from '../../../src/policy/plan-types.js';

const root = join(import.meta.dirname, '../../..');

describe('approve while a host does not answer', () => {
  it('leaves the recommendation waiting, says to retry, and exits 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vb-approve-'));
    const config = join(dir, 'config.yaml');
    // Loopback addresses with nothing listening on port 1.
    await writeFile(
      config,
      `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.14.251:1/system" }\n  - { name: kvm2, uri: "qemu+tcp://127.0.14.252:1/system" }\nstateDir: ${dir}\nlog: { level: silent }\npolicy: { automation: manual }\n`,
    );
    const move: Move = {
      vmName: 'web1',
      vmUuid: '11111111-2222-3333-4444-555555555555',
      from: 'kvm1',
      to: 'kvm2',
      technique: 'precopy',
      copyStorage: false,
      predicted: { totalSeconds: 5, downtimeMs: 50, bytes: 2 ** 30, converges: true },
      reason: 'balance: test',
      gain: 0.1,
      inputs: { memoryBytes: 2 ** 30, dirtyRateMiBps: 1, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
    };
    const store = new RecommendationStore(dir);
    const { created } = await store.record([move], { nowMs: Date.now(), expirySeconds: 3600 });
    const run = promisify(execFile);
    const result = await run(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'approve', '--all', '-c', config], { cwd: root }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain(`${created[0].id}: not checked, kvm1 did not answer`);
    expect(result.stdout).toContain(`${created[0].id} stays waiting`);
    expect((await store.list()).map((r) => r.status)).toEqual(['waiting']);
  }, 60_000);
});
