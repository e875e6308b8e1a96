/**
 * What a fresh user's check found: check-config stopping at the first stage of errors, TLS files
 * checked only at connect time, and settings accepted and then ignored.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigFile } from '../../../src/controller/workflows/check-config.js';
import { loadConfig, parseConfig } from '../../../src/config/index.js';
import { schedulePeriodSeconds } from '../../../src/controller/schedule.js';
import { oneHost, problemsOf } from './problems.js';

async function configFile(text: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'vb-fresh-'));
  const file = join(dir, 'config.yaml');
  await writeFile(file, text);
  return { dir, file };
}

describe('every independent problem at once', () => {
  it('a bad host name does not hide a bad URI in another entry', () => {
    const problems = problemsOf({
      hosts: [
        { name: 'kvm 1', uri: 'qemu+tcp://10.0.0.11/system' },
        { name: 'kvm2', uri: 'xen+tcp://10.0.0.12/system' },
      ],
    });
    expect(problems.map((p) => p.path)).toEqual(['hosts[0].name', 'hosts[1].uri']);
    expect(problems[1].message).toContain('driver "xen" is not supported');
  });

  it('check-config lists schema, URI, metrics.listen and missing TLS files together, each with its field', async () => {
    const { dir, file } = await configFile(
      [
        'hosts:',
        '  - { name: "kvm 1", uri: "qemu+tls://10.0.0.11/system" }',
        '  - { name: kvm2, uri: "qemu+tls://10.0.0.12/system?pkipath=pki" }',
        'libvirt: { tls: { caFile: ca.pem, certFile: /nonexistent/client.pem, keyFile: key.pem } }',
        'metrics: { listen: "0.0.0.0" }',
        'ha: { endpoints: ["https://10.0.0.21:2379"], tls: { caFile: etcd-ca.pem } }',
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n');
    const { config, problems } = await checkConfigFile(file);
    expect(config).toBeUndefined();
    expect(problems).toEqual([
      { path: 'hosts[0].name', message: expect.stringContaining('a host name of letters') },
      { path: 'metrics.listen', message: '"0.0.0.0" is not host:port (e.g. 127.0.0.1:9464; "" turns the endpoint off)' },
      // Relative paths are taken from the config file's directory.
      { path: 'libvirt.tls.caFile', message: `${join(dir, 'ca.pem')} does not exist; fix libvirt.tls.caFile` },
      { path: 'libvirt.tls.certFile', message: '/nonexistent/client.pem does not exist; fix libvirt.tls.certFile' },
      { path: 'ha.tls.caFile', message: `${join(dir, 'etcd-ca.pem')} does not exist; fix ha.tls.caFile` },
    ]);
  });

  it('check-config names a qemu+tls host whose ?pkipath= files are missing, and a file that is not PEM', async () => {
    const { dir, file } = await configFile(
      'hosts:\n  - { name: kvm2, uri: "qemu+tls://10.0.0.12/system?pkipath=/nonexistent/pki" }\nlibvirt: { tls: { caFile: ca.pem } }\n',
    );
    await writeFile(join(dir, 'ca.pem'), 'not a certificate\n');
    const { problems } = await checkConfigFile(file);
    expect(problems).toEqual([
      {
        path: 'libvirt.tls.caFile',
        message: `${join(dir, 'ca.pem')} holds no PEM block (-----BEGIN ...); give the PEM file, not DER or another file; fix libvirt.tls.caFile`,
      },
      {
        path: 'hosts[0].uri',
        message: `/nonexistent/pki/clientcert.pem does not exist; host "kvm2" uses qemu+tls:// and reads it from ?pkipath=; put it in the URI's ?pkipath= directory, or set libvirt.tls.certFile in the config`,
      },
      {
        path: 'hosts[0].uri',
        message: `/nonexistent/pki/clientkey.pem does not exist; host "kvm2" uses qemu+tls:// and reads it from ?pkipath=; put it in the URI's ?pkipath= directory, or set libvirt.tls.keyFile in the config`,
      },
    ]);
  });
});

describe('settings accepted and then ignored are refused, naming the field and the fix', () => {
  it('an unknown URI query parameter, naming the host and the parameter (with the nearest known one)', () => {
    expect(problemsOf({ hosts: [{ name: 'kvm1', uri: 'qemu+tls://10.0.0.11/system?pkipth=/etc/pki/vb' }] })).toEqual([
      {
        path: 'hosts[0].uri',
        message: expect.stringMatching(
          /^host "kvm1": unknown URI parameter "pkipth" \(did you mean "pkipath"\?\); the parameters virt-balancer reads are socket, no_verify, no_tty, pkipath, /,
        ),
      },
    ]);
    expect(problemsOf({ hosts: [{ name: 'kvm1', uri: 'qemu+tls://10.0.0.11/system?tls_priority=NORMAL' }] })[0].message).toBe(
      `host "kvm1": URI parameter "tls_priority" is not supported by virt-balancer's libvirt client (Node's TLS (OpenSSL) takes no GnuTLS priority string); remove it`,
    );
    expect(problemsOf({ hosts: [{ name: 'kvm1', uri: 'qemu+ssh://root@10.0.0.11/system?keyfile=/root/.ssh/id&no_tty=1' }] })).toEqual([]);
  });

  it('goal consolidate with spread settings; the consolidation policy or section under goal balance', () => {
    expect(problemsOf({ ...oneHost, policy: { goal: 'consolidate', spread: { aggressiveness: 4 } } })).toEqual([
      {
        path: 'policy.spread',
        message:
          'is not used with policy.goal: consolidate (consolidating packs hosts; spread balancing is off); remove policy.spread, or set policy.goal: balance to spread the load',
      },
    ]);
    expect(problemsOf({ ...oneHost, policy: { goal: 'consolidate', spread: { enabled: false } } })).toEqual([]);
    expect(problemsOf({ ...oneHost, policy: { policies: [{ name: 'balance' }, { name: 'consolidation', weight: 0.5 }] } })).toEqual([
      { path: 'policy.policies[1]', message: expect.stringContaining('set policy.goal: consolidate (it runs the consolidation policy without listing it)') },
    ]);
    // Listed but switched off, it does not run: nothing to refuse.
    expect(problemsOf({ ...oneHost, policy: { policies: [{ name: 'balance' }, { name: 'consolidation', enabled: false }] } })).toEqual([]);
    expect(problemsOf({ ...oneHost, policy: { consolidation: { targetUtilizationPercent: 60 } } })).toEqual([
      { path: 'policy.consolidation', message: 'is read only with policy.goal: consolidate; set policy.goal: consolidate, or remove policy.consolidation' },
    ]);
  });

  it('a five-field cron runs every N minutes, and /healthz allows for it; a wrong one names loop.schedule', () => {
    expect(parseConfig({ ...oneHost, loop: { schedule: '*/5 * * * *' } }).loop.schedule).toBe('*/5 * * * *');
    expect(schedulePeriodSeconds('*/5 * * * *')).toBe(300);
    expect(schedulePeriodSeconds('*/30 * * * * *')).toBe(30);
    expect(schedulePeriodSeconds('0 3 * * *')).toBe(86_400);
    expect(problemsOf({ ...oneHost, loop: { schedule: 'every 30 seconds' } })).toEqual([
      { path: 'loop.schedule', message: expect.stringContaining('is not a cron expression node-cron accepts: six fields with seconds first') },
    ]);
  });

  it("a relative stateDir is taken from the config file's directory, not the working directory", async () => {
    const { dir, file } = await configFile(
      'hosts:\n  - { name: kvm1, uri: "qemu+tcp://10.0.0.11/system" }\nstateDir: state\npolicy: { policyDirs: [my-policies] }\n',
    );
    const config = await loadConfig(file);
    expect(config.stateDir).toBe(join(dir, 'state'));
    expect(config.policy.policyDirs).toEqual([join(dir, 'my-policies')]);
  });
});
