/** Scenario files get the config's style of errors: the file, each field path, what is wrong and the fix. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../../src/cli/errors.js';
import { loadScenario } from '../../../src/sim/scenario-file.js';

async function scenarioFile(text: string): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), 'vb-scenario-')), 'scenario.yaml');
  await writeFile(file, text);
  return file;
}

async function failure(file: string): Promise<{ message: string; exitCode: number }> {
  return loadScenario(file).then(
    () => {
      throw new Error(`${file} was accepted`);
    },
    (error: unknown) => describeError(error),
  );
}

describe('scenario file errors', () => {
  it('lists every problem with its field, including a VM on a host the scenario does not have', async () => {
    const file = await scenarioFile(
      [
        'tickSecond: 30',
        'hosts:',
        '  - { name: kvm1, cpuCount: 8, memoryMiB: 65536 }',
        '  - { name: kvm1, cpuCount: 8, memoryMiB: 65536 }',
        'vms:',
        '  - { name: web1, host: kvm9, memoryMiB: 4096, cpu: 1.5 }',
        '  - { name: web2, host: kvm1, memoryMiB: "4 GiB", cpu: 0.5 }',
        '',
      ].join('\n'),
    );
    const { message, exitCode } = await failure(file);
    expect(exitCode).toBe(2);
    expect(message).toBe(
      [
        `invalid scenario ${file}:`,
        '  - vms[0].cpu: expected number to be <=1, got number 1.5',
        '  - vms[1].memoryMiB: expected number, got string "4 GiB"',
        '  - (file): unknown field "tickSecond" (check the spelling; see docs/scenario-reference.md)',
      ].join('\n'),
    );
  });

  it('cross-field checks once the fields are valid: duplicate names and unknown hosts', async () => {
    const file = await scenarioFile(
      'hosts:\n  - { name: kvm1, cpuCount: 8, memoryMiB: 65536 }\n  - { name: kvm1, cpuCount: 8, memoryMiB: 65536 }\nvms:\n  - { name: web1, host: kvm9, memoryMiB: 4096, cpu: 0.5 }\n',
    );
    expect((await failure(file)).message).toBe(
      [
        `invalid scenario ${file}:`,
        '  - hosts[1].name: duplicate host name "kvm1"; give each host its own name',
        '  - vms[0].host: "kvm9" (VM web1) is not among hosts kvm1; use one of them',
      ].join('\n'),
    );
  });

  it('a missing file names --scenario and the examples', async () => {
    expect((await failure('/nonexistent/scenario.yaml')).message).toBe(
      'invalid scenario /nonexistent/scenario.yaml:\n  - (file): file not found; pass --scenario with the path of your scenario (examples in deploy/scenarios/)',
    );
  });

  it('refuses start states libvirt would never start: pinned to CPUs or NUMA nodes the host lacks, hugepages beyond the pool or of a size it has not', async () => {
    const file = await scenarioFile(
      [
        'hosts:',
        '  - { name: kvm1, cpuCount: 8, memoryMiB: 65536, numaNodes: 2, hugepages: [{ pageSizeKiB: 2048, pages: 1024 }] }',
        '  - { name: kvm2, cpuCount: 4, memoryMiB: 65536 }',
        'vms:',
        '  - { name: pinned, host: kvm1, memoryMiB: 1024, cpu: 0.5, cpuset: "6-9", numaNodeset: "2" }',
        '  - { name: hp1, host: kvm1, memoryMiB: 1536, cpu: 0.5, hugepageSizeKiB: 2048 }',
        '  - { name: hp2, host: kvm1, memoryMiB: 1024, cpu: 0.5, hugepageSizeKiB: 2048 }',
        '  - { name: hp-off, host: kvm1, memoryMiB: 8192, cpu: 0, hugepageSizeKiB: 2048, state: shutoff }',
        '  - { name: gig, host: kvm2, memoryMiB: 1024, cpu: 0.5, hugepageSizeKiB: 1048576 }',
        '',
      ].join('\n'),
    );
    const { message, exitCode } = await failure(file);
    expect(exitCode).toBe(2);
    expect(message).toContain('vms[0].cpuset: VM pinned is bound to CPU 8,9, which its host kvm1 lacks (CPUs 0-7)');
    expect(message).toContain('vms[0].numaNodeset: VM pinned is bound to NUMA node 2, which its host kvm1 lacks (NUMA nodes 0-1)');
    expect(message).toContain('vms[4].hugepageSizeKiB: VM gig is backed by 1048576 KiB hugepages, and its host kvm2 has no pool of that size');
    // 768 + 512 pages of 2 MiB against 1,024: the shut-off VM holds none.
    expect(message).toContain('hosts[0].hugepages: the VMs starting on kvm1 need 1280 2048 KiB hugepages and its pool has 1024');
    expect(message.match(/libvirt would not start/g)).toHaveLength(4);
  });
});
