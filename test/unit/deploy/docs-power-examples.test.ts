import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/index.js';
import { expandCommand, powerTarget } from '../../../src/power/command.js';
import { repoRoot } from './tools.js';

/** The ```yaml blocks of a doc that configure `power:` with hosts (whole example configs). */
function powerExamples(doc: string): string[] {
  const text = readFileSync(join(repoRoot, doc), 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((y) => /^power:/m.test(y) && /^hosts:/m.test(y));
}

describe('the power examples in the docs', () => {
  it('are valid configs (deploy.md: IPMI and Redfish)', () => {
    const examples = powerExamples('docs/deploy.md');
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const example of examples) expect(() => parseConfig(parse(example), 'docs/deploy.md')).not.toThrow();
  });

  it("keep the Redfish JSON body's braces as literal text and replace {address}", () => {
    const redfish = powerExamples('docs/deploy.md').find((y) => y.includes('redfish'));
    expect(redfish).toBeDefined();
    const config = parseConfig(parse(redfish!), 'docs/deploy.md');
    const argv = expandCommand(config.power.powerOffCommand!, powerTarget(config.hosts[0]!));
    expect(argv).toContain('{"ResetType": "GracefulShutdown"}');
    expect(argv.at(-1)).toBe('https://10.9.0.11/redfish/v1/Systems/1/Actions/ComputerSystem.Reset');
  });
});
