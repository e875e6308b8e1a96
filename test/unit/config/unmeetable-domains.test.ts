/**
 * check-config's warnings for rules over failure domains and for failover headroom no cluster of
 * this size can give (fresh-user finds, 2026-12-07: each of these said "OK").
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { unmeetableRules } from '../../../src/controller/workflows/check-config.js';

const hosts = [
  { name: 'a1', uri: 'qemu+tcp://127.0.52.250:1/system', labels: { rack: 'a' } },
  { name: 'a2', uri: 'qemu+tcp://127.0.52.251:1/system', labels: { rack: 'a' } },
  { name: 'b1', uri: 'qemu+tcp://127.0.52.252:1/system', labels: { rack: 'b' } },
];
const check = (policy: unknown, h: unknown[] = hosts) => unmeetableRules(parseConfig({ hosts: h, policy }, 'config.yaml'));

describe('check-config: failure domains and headroom', () => {
  it('an anti-affinity group over racks with more VMs than racks', () => {
    expect(check({ affinityGroups: [{ name: 'db', type: 'anti-affinity', vms: ['d1', 'd2', 'd3'], scope: 'rack' }] })).toEqual([
      'anti-affinity group db has 3 VMs but only 2 rack(s) among the hosts out of maintenance: at least 1 of them will always share a rack; add a rack or shrink the group',
    ]);
    // Two VMs over two racks can be kept apart: nothing to say.
    expect(check({ affinityGroups: [{ name: 'db', type: 'anti-affinity', vms: ['d1', 'd2'], scope: 'rack' }] })).toEqual([]);
  });

  it('a scope label no host has (a typo turns rack anti-affinity into host anti-affinity)', () => {
    expect(check({ affinityGroups: [{ name: 'db', type: 'anti-affinity', vms: ['d1', 'd2'], scope: 'rak' }] })).toEqual([
      'anti-affinity group db keeps its VMs apart by host label "rak", which no host has (hosts[].labels): each host counts as its own rak; fix the label\'s name or label the hosts',
    ]);
  });

  it('a spread group over a label no host has, or over fewer than two domains; a spread over racks larger than the racks is fine', () => {
    expect(check({ affinityGroups: [{ name: 'web', type: 'spread', vms: ['w1', 'w2', 'w3'], scope: 'rak' }] })).toEqual([
      'spread group web spreads its VMs by host label "rak", which no host has (hosts[].labels): each host counts as its own rak; fix the label\'s name or label the hosts',
    ]);
    const oneRack = hosts.map((h) => ({ ...h, labels: { rack: 'a' } }));
    expect(check({ affinityGroups: [{ name: 'web', type: 'spread', vms: ['w1', 'w2', 'w3'], scope: 'rack' }] }, oneRack)).toEqual([
      'spread group web has 1 rack(s) out of maintenance to spread over: it spreads nothing until there are two; add a rack',
    ]);
    expect(check({ affinityGroups: [{ name: 'web', type: 'spread', vms: ['w1', 'w2', 'w3', 'w4', 'w5'], scope: 'rack' }] })).toEqual([]);
    // scope on a keep-together group is still refused, naming the field.
    expect(() =>
      parseConfig({ hosts, policy: { affinityGroups: [{ name: 'db', type: 'affinity', vms: ['d1', 'd2'], scope: 'rack' }] } }, 'config.yaml'),
    ).toThrow(/policy\.affinityGroups\[0\]\.scope: applies to anti-affinity and spread groups only/);
  });

  it('policy.headroom.hostFailures as many as the hosts out of maintenance', () => {
    expect(check({ headroom: { hostFailures: 3 } })).toEqual([
      'policy.headroom.hostFailures is 3 but only 3 host(s) are out of maintenance: no host would be left to take their VMs, so every move the headroom judges is refused; lower it below 3',
    ]);
    expect(check({ headroom: { hostFailures: 2 } })).toEqual([]);
  });
});

describe('affinity groups: names and members once', () => {
  it('refuses a group listing a VM twice and two groups of one name, naming the field', () => {
    expect(() =>
      parseConfig(
        {
          hosts,
          policy: {
            affinityGroups: [
              { name: 'g', type: 'anti-affinity', vms: ['web1', 'web1'] },
              { name: 'g', type: 'affinity', vms: ['a', 'b'] },
            ],
          },
        },
        'config.yaml',
      ),
    ).toThrow(
      /policy\.affinityGroups\[0\]\.vms\[1\]: VM web1 is listed twice in group g; list each VM once[\s\S]*policy\.affinityGroups\[1\]\.name: a second group named g; give each group its own name/,
    );
  });
});

describe('check-config: the HTTP API listener', () => {
  it('warns of plain HTTP on a non-loopback address, not on loopback or with TLS', () => {
    const api = (listen: string, tls?: unknown) => ({ hosts, api: { listen, tokenFile: '/etc/virt-balancer/api-tokens', ...(tls ? { tls } : {}) } });
    expect(unmeetableRules(parseConfig(api('0.0.0.0:9465'), 'config.yaml'))).toEqual([
      'api.listen 0.0.0.0:9465 is not a loopback address and api.tls is not set: bearer tokens and answers cross the network in clear text; set api.tls (certFile, keyFile), or listen on 127.0.0.1 behind a TLS proxy',
    ]);
    expect(unmeetableRules(parseConfig(api('127.0.0.1:9465'), 'config.yaml'))).toEqual([]);
    expect(unmeetableRules(parseConfig(api('10.0.0.5:9465', { certFile: '/c.pem', keyFile: '/k.pem' }), 'config.yaml'))).toEqual([]);
  });

  it('refuses a port outside 1..65535 naming api.listen', () => {
    expect(() => parseConfig({ hosts, api: { listen: '127.0.0.1:99999', tokenFile: '/t' } }, 'config.yaml')).toThrow(
      /api\.listen: the port must be in 1\.\.65535/,
    );
  });
});
