import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { repoRoot } from './tools.js';

describe('example configs in deploy/config', () => {
  it('are valid and keep their hosts', async () => {
    expect((await loadConfig(join(repoRoot, 'deploy/config/minimal.yaml'))).hosts.map((h) => h.name)).toEqual(['kvm1', 'kvm2']);
    const example = await loadConfig(join(repoRoot, 'deploy/config/virt-balancer.example.yaml'));
    expect(example.hosts.map((h) => h.name)).toEqual(['kvm1', 'kvm2', 'kvm3']);
    // The service's paths.
    expect(example.stateDir).toBe('/var/lib/virt-balancer');
    expect(example.metrics.listen).toBe('127.0.0.1:9464');
  });
});
