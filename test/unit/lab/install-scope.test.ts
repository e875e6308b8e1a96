/**
 * What `npm run demo` installs (issue 30): the lab's packages only, not the test suite's; and
 * lab/install.ts's lists agree with the package arrays of scripts/install-lab-packages.sh, which
 * installs them (--lab-only for the lab).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labPackageNeeds } from '../../../lab/install.js';

const script = readFileSync(join(import.meta.dirname, '../../../scripts/install-lab-packages.sh'), 'utf8');

/** The words of a bash array assignment `NAME=( ... )` in the script. */
function scriptArray(name: string): string[] {
  const m = new RegExp(`^${name}=\\(([^)]*)\\)`, 'm').exec(script);
  if (!m) throw new Error(`no ${name}=(...) in install-lab-packages.sh`);
  return m[1].split(/\s+/).filter(Boolean);
}

const packages = (scope: 'lab' | 'tests') => new Set(labPackageNeeds(scope).map((n) => n.pkg));

describe('the lab install and the test install', () => {
  it('the lab (the demo, npm run lab -- up) needs libvirt, QEMU and the guest image tools, none of the test suite tools', () => {
    const lab = packages('lab');
    for (const pkg of ['libvirt-daemon-system', 'libvirt-clients', 'qemu-system-x86', 'qemu-utils', 'busybox-static', 'cpio', 'gcc'])
      expect(lab).toContain(pkg);
    for (const pkg of ['prometheus', 'etcd-server', 'etcd-client', 'openssh-server', 'tcpdump', 'openssl', 'iproute2']) expect(lab).not.toContain(pkg);
    expect([...lab].filter((p) => p.includes('source'))).toEqual([]);
  });

  it('the test install adds them', () => {
    const tests = packages('tests');
    for (const pkg of [...packages('lab'), 'prometheus', 'etcd-server', 'openssh-server', 'tcpdump']) expect(tests).toContain(pkg);
  });

  it('install-lab-packages.sh installs each list: the lab packages always, the test packages unless --lab-only', () => {
    const always = new Set([...scriptArray('BASE_PACKAGES'), ...scriptArray('STACK_PACKAGES')]);
    const testOnly = new Set(scriptArray('TEST_PACKAGES'));
    for (const pkg of packages('lab')) expect(always, pkg).toContain(pkg);
    // libvirt-daemon (virt-ssh-helper) comes with libvirt-daemon-system; the source package is fetched, not installed.
    const installedOtherwise = (pkg: string) => pkg === 'libvirt-daemon' || pkg.includes('source');
    for (const pkg of packages('tests')) if (!packages('lab').has(pkg) && !installedOtherwise(pkg)) expect(testOnly, pkg).toContain(pkg);
    for (const pkg of testOnly) expect(always, pkg).not.toContain(pkg);
    expect(script).toMatch(/\$lab_only \|\| BASE_PACKAGES\+=\("\$\{TEST_PACKAGES\[@\]\}"\)/);
  });
});
