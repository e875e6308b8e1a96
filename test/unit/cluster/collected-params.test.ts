/**
 * The collector asks libvirt's bulk stats to keep only the parameters it reads (COLLECTED_PARAMS;
 * the rest are passed over undecoded). A parameter read in collector.ts but not named there would
 * silently read as absent: every name the source reads from a stats record must match it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COLLECTED_PARAMS } from '../../../src/cluster/collector.js';

describe('the bulk-stats parameters the collector keeps', () => {
  it('name every parameter collector.ts reads from a stats record (the dirty-rate call keeps all of its own)', () => {
    const source = readFileSync(join(import.meta.dirname, '../../../src/cluster/collector.ts'), 'utf8');
    const read = [
      ...source.matchAll(/(?:num|big|kibBytes)\(params, '([^']+)'\)/g),
      ...source.matchAll(/(?:num|big|kibBytes)\(params, `([^`]+)`\)/g),
      ...source.matchAll(/params\[`([^`]+)`\]/g),
    ].map((m) => m[1].replace(/\$\{[^}]+\}/g, '0'));
    expect(read.length).toBeGreaterThanOrEqual(13);
    expect(read.filter((name) => !COLLECTED_PARAMS.test(name))).toEqual([]);
    // And it passes over what the collector does not read.
    for (const skipped of ['vcpu.0.time', 'block.0.rd.bytes', 'balloon.swap_in', 'cpu.user']) expect(COLLECTED_PARAMS.test(skipped)).toBe(false);
  });
});
