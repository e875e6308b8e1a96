/**
 * Defaults that prose docs repeat agree with the schema (docs/config-reference.md is generated from
 * it; a number written by hand elsewhere drifts when a default changes).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { policySchema } from '../../../src/config/policy-schema.js';
import { spreadSettings } from '../../../src/policy/relief.js';
import { repoRoot } from './tools.js';

const doc = (file: string) => readFileSync(join(repoRoot, file), 'utf8');
const defaults = configSchema.parse({ hosts: [{ name: 'kvm1', uri: 'qemu:///system' }] });

/** The value a doc gives after `pattern`'s one capture group, as a number or string. */
function stated(file: string, pattern: RegExp): string {
  const m = pattern.exec(doc(file));
  if (!m) throw new Error(`${file}: ${pattern} not found (the sentence changed: update this test with it)`);
  return m[1];
}

describe('defaults repeated in prose docs', () => {
  it('match the schema', () => {
    expect(Number(stated('docs/policies.md', /`policy\.objective\.hotSpotWeight` \(default (\d+)/))).toBe(defaults.policy.objective.hotSpotWeight);
    expect(stated('docs/policies.md', /`policy\.objective\.cpuWeight` \/ `memoryWeight` \(default (\d+ and \d+)/)).toBe(
      `${defaults.policy.objective.cpuWeight} and ${defaults.policy.objective.memoryWeight}`,
    );
    expect(Number(stated('docs/policies.md', /`policy\.spread\.aggressiveness` \(1-5, default (\d)\)/))).toBe(defaults.policy.spread.aggressiveness);
    expect(Number(stated('docs/operator-workflow.md', /`policy\.recommendationExpirySeconds` \(default (\d+)\)/))).toBe(
      defaults.policy.recommendationExpirySeconds,
    );
    expect(stated('docs/operator-workflow.md', /\| `(\w+)` \(default\) \|/)).toBe(defaults.policy.automation);
    expect(stated('docs/deploy.md', /tls: \w+\s+# (\w+) \(default\)/)).toBe(defaults.migration.tls);
    expect(stated('docs/ha.md', /`ha\.electionName` \(default `([^`]+)`\)/)).toBe(
      configSchema.parse({ ...defaults, ha: { endpoints: ['http://127.0.0.1:2379'] } }).ha!.electionName,
    );
  });

  it("policies.md's aggressiveness table and the schema's descriptions give the presets the engine uses", () => {
    const presets = [2, 3, 4, 5].map((aggressiveness) => ({ aggressiveness, ...spreadSettings(policySchema.parse({ spread: { aggressiveness } })) }));
    const pct = (ratio: number) => Math.round(ratio * 100);
    for (const p of presets) {
      const row = new RegExp(
        `^\\| (?:\\*\\*)?${p.aggressiveness}(?:\\*\\*)?(?: \\(default\\))? \\| (\\S+) \\| (\\S+) \\| (\\S+) \\| (\\S+) \\| (\\S+) \\| (\\S+) \\|$`,
        'm',
      ).exec(doc('docs/policies.md'));
      expect(row, `policies.md row for aggressiveness ${p.aggressiveness}`).not.toBeNull();
      expect(row!.slice(1).map(Number), `aggressiveness ${p.aggressiveness}`).toEqual([
        pct(p.tolerance.cpu),
        pct(p.minCpu),
        p.minGain.cpu,
        pct(p.tolerance.memory),
        p.minGain.memory,
        p.holdTicks,
      ]);
    }
    const reference = doc('docs/config-reference.md');
    const list = (values: number[]) => values.join('/');
    expect(reference).toContain(`default from aggressiveness: ${list(presets.map((p) => pct(p.tolerance.cpu)))} points for 2/3/4/5`);
    expect(reference).toContain(`else from aggressiveness: ${list(presets.map((p) => pct(p.tolerance.memory)))} points for 2/3/4/5`);
    expect(reference).toContain(`default from aggressiveness: ${list(presets.map((p) => pct(p.minCpu)))} for 2/3/4/5`);
    expect(reference).toContain(`default from aggressiveness: ${list(presets.map((p) => p.holdTicks))})`);
    expect(reference).toContain(`default from aggressiveness: ${list(presets.map((p) => p.minGain.cpu))} for 2/3/4/5`);
    expect(reference).toContain(`else from aggressiveness: ${list(presets.map((p) => p.minGain.memory))} for 2/3/4/5`);
  });
});
