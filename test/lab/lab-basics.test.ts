import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { virsh } from '../../lab/run.js';

const vms: string[] = [];
let lab: Lab;

describe('lab hosts and guests', () => {
  afterAll(async () => {
    for (const name of vms) await lab.destroyVm(name);
  });

  it('has three hosts, each its own libvirtd with a distinct host UUID, and a config describing them', async () => {
    lab = await labFromEnv();
    expect(lab.hosts.map((h) => h.address)).toEqual(
      ['127.0.0.11', '127.0.0.12', '127.0.0.13'].map((a) => a.replace('127.0.0.', process.env.VB_LAB_ADDRESS_PREFIX ?? '127.0.0.')),
    );
    const uuids = new Set<string>();
    for (const host of lab.hosts) {
      const caps = (await virsh(host.uri, ['capabilities'])).stdout;
      const uuid = caps.match(/<uuid>([^<]+)<\/uuid>/)?.[1];
      expect(uuid, `host UUID of ${host.name}`).toBe(host.hostUuid);
      uuids.add(uuid!);
    }
    expect(uuids.size).toBe(3);
    const config = readFileSync(inject('labConfigPath'), 'utf8');
    for (const host of lab.hosts) expect(config).toContain(host.uri);
  });

  it('boots a TCG guest whose workload heartbeats OK, and the heartbeat advances', async () => {
    vms.push('basic1');
    const first = await lab.createVm({ name: 'basic1', host: 'lab2', vcpus: 1, memoryMiB: 160, cpuBusyPercent: 5, dirtyMiBps: 2, workloadMiB: 24 });
    expect(first.status).toBe('OK');
    const later = await lab.waitForHeartbeat('basic1', { afterSeq: first.seq + 1, timeoutMs: 20_000 });
    expect(later.seq).toBeGreaterThan(first.seq + 1);
    expect(await lab.whereIs('basic1')).toBe('lab2');
    const xml = (await virsh(lab.host('lab2').uri, ['dumpxml', 'basic1'])).stdout;
    expect(xml).toContain("type='qemu'");
  });

  it('detects guest memory corruption in the heartbeat', async () => {
    vms.push('corrupt1');
    await lab.createVm({ name: 'corrupt1', host: 'lab3', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 0, dirtyMiBps: 1, workloadMiB: 8, selfTestCorruptAfter: 2 });
    await expect(lab.waitForHeartbeat('corrupt1', { afterSeq: 3, timeoutMs: 30_000 })).rejects.toThrow(/memory check failed/);
    expect((await lab.heartbeat('corrupt1')).status).toBe('CORRUPT');
  });

  it('keeps the guest intact through a peer-to-peer pre-copy live migration (virsh)', async () => {
    vms.push('mig1');
    await lab.createVm({ name: 'mig1', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 4, workloadMiB: 32 });
    const before = await lab.heartbeat('mig1');
    await virsh(lab.host('lab1').uri, [
      'migrate',
      '--live',
      '--p2p',
      '--persistent',
      '--undefinesource',
      'mig1',
      lab.host('lab2').uri,
      `tcp://${lab.host('lab2').address}`,
    ]);
    expect(await lab.whereIs('mig1')).toBe('lab2');
    const after = await lab.waitForHeartbeat('mig1', { afterSeq: before.seq + 2, timeoutMs: 30_000 });
    expect(after.status).toBe('OK');
  });

  it('restarts a killed libvirtd in its namespace and finds the running guest again', async () => {
    await lab.stopHost('lab2');
    await expect(virsh(lab.host('lab2').uri, ['version'], 5_000)).rejects.toThrow();
    const beat = await lab.heartbeat('mig1');
    await lab.startHost('lab2');
    expect(await lab.whereIs('mig1')).toBe('lab2');
    await lab.waitForHeartbeat('mig1', { afterSeq: beat.seq, timeoutMs: 20_000 });
  });

  it('leaves no lab mounts in the root mount namespace', () => {
    const mounts = execFileSync('cat', ['/proc/self/mountinfo']).toString();
    expect(mounts).not.toContain(lab.paths.hosts);
  });
});
