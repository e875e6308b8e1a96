/** virt_balancer_build_info (issue 29 item 4): always 1, labelled with the package version, the commit and Node's version. */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildInfo, packageVersion } from '../../../src/metrics/build-info.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import pkg from '../../../package.json' with { type: 'json' };

describe('virt_balancer_build_info', () => {
  it('is exported as 1 with the package version, the commit (unknown without VIRT_BALANCER_COMMIT) and the Node.js version', async () => {
    const text = await createMetrics(undefined, { defaultMetrics: false }).registry.metrics();
    const commit = process.env.VIRT_BALANCER_COMMIT?.trim() || 'unknown';
    expect(text).toContain(`virt_balancer_build_info{version="${pkg.version}",commit="${commit}",node_version="${process.version}"} 1`);
  });

  it('takes the commit from VIRT_BALANCER_COMMIT', () => {
    expect(buildInfo({ VIRT_BALANCER_COMMIT: ' 76e3e5b\n' })).toEqual({ version: pkg.version, commit: '76e3e5b', nodeVersion: process.version });
  });

  it("finds the nearest virt-balancer package.json above the module (an install's dist/src/metrics), skipping others", () => {
    const root = mkdtempSync(join(tmpdir(), 'vb-build-info-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'virt-balancer', version: '9.8.7' }));
    mkdirSync(join(root, 'dist/src/metrics'), { recursive: true });
    writeFileSync(join(root, 'dist/package.json'), JSON.stringify({ type: 'module' }));
    expect(packageVersion(join(root, 'dist/src/metrics'))).toBe('9.8.7');
  });
});
