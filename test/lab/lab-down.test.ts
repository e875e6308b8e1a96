import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guestPids, readPid } from '../../lab/hosts.js';
import { Lab } from '../../lab/lab.js';
import { pidAlive } from '../../lab/run.js';

describe('lab down', () => {
  it('ends every process a separate one-host lab started, leaves no mounts, and is idempotent', async () => {
    const root = mkdtempSync('/var/tmp/vb-lab-downtest-');
    // An address range no other lab here uses (the shared lab, demo, bench and transports test have their own).
    const lab = new Lab(root, '127.0.19.');
    await lab.up({ hosts: 1 });
    await lab.up({ hosts: 1 }); // twice is fine
    await lab.createVm({ name: 'down1', host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 0, dirtyMiBps: 0, workloadMiB: 8 });
    const host = lab.host('lab1');
    const pids = [...(await guestPids(host)), (await readPid(join(host.dir, 'libvirtd.pid')))!, (await readPid(join(host.dir, 'virtlogd.pid')))!];
    expect(pids.length).toBe(3);
    expect(pids.every(pidAlive)).toBe(true);
    await lab.down();
    expect(pids.filter(pidAlive)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
    await lab.down(); // after it is already down: still fine
    rmSync(root, { recursive: true, force: true });
  });
});
