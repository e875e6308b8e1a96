/**
 * Issue 27: under HA a leader's power actions are fenced with the same token as migration starts
 * (LeaderGate.commitPowerAction): a leader cut off from etcd keeps isLeader() for up to one lease
 * TTL and must not power a host off meanwhile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../../src/config/schema.js';
import { Controller } from '../../../src/controller/controller.js';
import type { LeaderGate, SharedDecisionStore } from '../../../src/ha/types.js';
import type { JournalEntry } from '../../../src/history/index.js';
import { createLogger } from '../../../src/log/logger.js';
import { PowerManager } from '../../../src/power/manager.js';

const dir = mkdtempSync(join(tmpdir(), 'vb-power-fence-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(): Config {
  return configSchema.parse({
    hosts: [
      { name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' },
      { name: 'kvm2', uri: 'qemu+tcp://10.0.0.2/system' },
    ],
    stateDir: dir,
    policy: { goal: 'consolidate', automation: 'full' },
    power: { action: 'command', powerOffCommand: ['ipmitool', '-H', '{address}', 'chassis', 'power', 'soft'], powerOnCommand: ['wakeonlan', '{address}'] },
  });
}

const off = { host: 'kvm2', action: 'power-off' as const, reason: 'emptied by consolidation' };

describe('power actions under HA are fenced like migration starts', () => {
  it('a refused commit: the command never runs, the failure names the fencing reason', async () => {
    const journal: JournalEntry[] = [];
    const order: string[] = [];
    const manager = new PowerManager(config(), {
      journal: { append: async (e) => void journal.push(e) },
      logger: createLogger({ level: 'silent' }),
      connection: () => undefined,
      runCommand: async (argv) => {
        order.push(`run ${argv[0]}`);
        return { ok: true, exitCode: 0, stderr: '', durationMs: 1 };
      },
      commitAction: async (d) => {
        order.push(`commit ${d.host} ${d.action}`);
        return 'fencing token 41 is stale: /virt-balancer/leader was not created at that revision any more';
      },
    });
    manager.carryOut([off], false);
    await manager.idle();
    expect(order).toEqual(['commit kvm2 power-off']);
    const failed = journal.find((e) => e.type === 'power' && (e as { event: string }).event === 'failed') as { detail?: string } | undefined;
    expect(failed?.detail).toBe(
      "not carried out: this controller's leadership was not confirmed (fencing: fencing token 41 is stale: /virt-balancer/leader was not created at that revision any more)",
    );
  });

  it('a committed action runs after its commit', async () => {
    const order: string[] = [];
    const manager = new PowerManager(config(), {
      journal: { append: async () => undefined },
      logger: createLogger({ level: 'silent' }),
      connection: () => undefined,
      runCommand: async (argv) => {
        order.push(`run ${argv[0]}`);
        return { ok: true, exitCode: 0, stderr: '', durationMs: 1 };
      },
      commitAction: async (d) => {
        order.push(`commit ${d.host} ${d.action}`);
        return undefined;
      },
    });
    manager.carryOut([off], false);
    await manager.idle();
    expect(order).toEqual(['commit kvm2 power-off', 'run ipmitool']);
  });

  it('the controller wires its HA gate into the power manager (a leader that isLeader() but whose token is stale powers nothing off)', async () => {
    const commits: unknown[] = [];
    const gate: LeaderGate = {
      isLeader: () => true,
      term: () => '41',
      commitStart: async () => 'stale',
      commitPowerAction: async (a) => {
        commits.push(a);
        return 'stale';
      },
    };
    const store: SharedDecisionStore = { load: async () => ({ outcomes: [], unfinished: new Map() }), recordOutcome: async () => undefined };
    const controller = new Controller(config(), { logger: createLogger({ level: 'silent' }), ha: { gate, store } });
    controller.power.carryOut([off], false);
    await controller.power.idle();
    expect(commits).toEqual([off]);
    await controller.stop();
  });
});
