/**
 * Maintenance with VMs in each state libvirt lets us migrate (issue 13, docs/policies.md "VM
 * states"): lab1 flagged for maintenance holds a running, a paused and a shut-off VM; the real
 * controller must empty it: the running VM moves live and runs on, the paused one moves live and is
 * still paused on its target, the shut-off one moves cold (its definition leaves lab1).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { Controller } from '../../src/controller/controller.js';
import type { MigrationResult } from '../../src/executor/index.js';
import { createLogger } from '../../src/log/logger.js';
import { labFromEnv, type Lab } from '../../lab/lab.js';
import { sleep } from '../../lab/run.js';

const execFileAsync = promisify(execFile);
const VMS = { running: 'ms-run', paused: 'ms-pause', shutoff: 'ms-off' };
let lab: Lab;

async function virsh(uri: string, args: string[]): Promise<string> {
  return (await execFileAsync('virsh', ['-c', uri, ...args], { timeout: 30_000 })).stdout.trim();
}

describe('maintenance drains VMs in every state libvirt can move', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    for (const name of Object.values(VMS)) {
      await lab.destroyVm(name).catch(() => {});
      await lab.createVm({ name, host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 5, dirtyMiBps: 0, workloadMiB: 16 });
    }
    const lab1 = (await loadConfig(lab.paths.configFile)).hosts.find((h) => h.name === 'lab1')!;
    await virsh(lab1.uri, ['suspend', VMS.paused]);
    await virsh(lab1.uri, ['destroy', VMS.shutoff]);
  });
  afterAll(async () => {
    for (const name of Object.values(VMS)) await lab.destroyVm(name).catch(() => {});
  });

  it('moves the running VM live, the paused one live (still paused), the shut-off one cold', async () => {
    const base = await loadConfig(lab.paths.configFile);
    const config: Config = {
      ...base,
      stateDir: mkdtempSync(join(tmpdir(), 'vb-maint-states-')),
      metrics: { listen: '' },
      hosts: base.hosts.map((h) => (h.name === 'lab1' ? { ...h, maintenance: true } : h)),
      policy: { ...base.policy, cooldownSeconds: 0, maxMovesPerTick: 3, allowedTechniques: ['precopy', 'cold'] },
      migration: { ...base.migration, maxConcurrent: 1 },
    };
    const results: MigrationResult[] = [];
    const controller = new Controller(config, { logger: createLogger({ level: 'silent' }), onResult: (r) => results.push(r) });
    await controller.init();
    const log: string[] = [];
    try {
      for (let tick = 1; tick <= 10; tick++) {
        const report = await controller.tick();
        log.push(
          `tick ${tick}: moves ${report.plan.moves.map((m) => `${m.vmName}->${m.to} (${m.technique})`).join(' ') || '-'}; skipped ${report.plan.skipped.map((s) => `${s.vmName}: ${s.reason}`).join(' | ') || '-'}`,
        );
        await controller.executor.whenIdle();
        const left = (await lab.listVms()).filter((v) => v.host === 'lab1' && Object.values(VMS).includes(v.name));
        if (left.length === 0) break;
        await sleep(3000);
      }
    } finally {
      await controller.executor.whenIdle();
      await controller.stop();
    }
    const context = `${log.join('\n')}\nresults: ${results.map((r) => `${r.vm} ${r.technique} ${r.outcome} ${r.error ?? ''}`).join('; ')}`;
    const vms = await lab.listVms();
    const at = (name: string) => vms.filter((v) => v.name === name);
    for (const name of Object.values(VMS)) {
      expect(
        at(name).map((v) => v.host),
        `${name}\n${context}`,
      ).not.toContain('lab1');
      expect(at(name), `${name}\n${context}`).toHaveLength(1);
    }
    expect(at(VMS.running)[0].state, context).toBe('running');
    expect(at(VMS.paused)[0].state, context).toBe('paused');
    expect(at(VMS.shutoff)[0].state, context).toBe('shut off');
    const by = Object.fromEntries(results.map((r) => [r.vm, r]));
    expect(by[VMS.running]?.technique, context).toBe('precopy');
    expect(by[VMS.paused]?.technique, context).toBe('precopy');
    expect(by[VMS.shutoff]?.technique, context).toBe('cold');
    expect(
      results.every((r) => r.outcome === 'completed'),
      context,
    ).toBe(true);
  }, 600_000);
});
