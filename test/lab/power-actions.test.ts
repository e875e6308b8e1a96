/**
 * Power actions for consolidation (issue 19, docs/policies.md "Power actions and standby"),
 * against real libvirtd: a controller with goal consolidate on lab1 and lab2 (lab3 is left out),
 * power.action command with a script that records its calls. The test plays the BMC: when the
 * script records `off lab1`, it kills lab1's libvirtd; on `on lab1`, it starts it again.
 *
 * 1. lab1 (an idle VM) is emptied onto lab2 and gets the power-off call with its name and address;
 *    once it stops answering it is standby: not a target, counted by the standby gauges.
 * 2. A third VM makes lab2 memory-hot (its configured 400 MiB, 96 % used, over memoryHighPercent
 *    85): lab1 is the only capacity, so the power-on call comes, lab1 answers again within
 *    power.wakeTimeoutSeconds and takes a move. Memory, not CPU: with configured capacities memory
 *    use is the sum of the VMs' memory, the same on a busy CI machine as anywhere (TCG guests' CPU
 *    shares are not; the CPU-hot wake is proved with the real engine in test/unit/power/decide.test.ts).
 * 3. The recorded calls are exactly off then on, for lab1 at its address; the guests' memory
 *    checks pass after the moves; lab1 is not powered down again (power.minAwakeSeconds).
 *
 * Node suspend is not run here: against a lab host it would suspend this machine (the lab's
 * daemons all run on it); its RPC is proved against the fake daemon (test/unit/power/node-suspend.test.ts).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { Controller, type TickReport } from '../../src/controller/controller.js';
import type { MigrationResult } from '../../src/executor/index.js';
import type { PowerJournalEntry } from '../../src/history/index.js';
import { createLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/catalog.js';
import { labFromEnv, type Lab } from '../../lab/lab.js';
import { sleep } from '../../lab/run.js';

const VMS = { idle: 'pw-idle', steady: 'pw-steady', hot: 'pw-memory' };
let lab: Lab;
let dir: string;

describe('power actions: an emptied host powered down, then woken when load needs it', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    for (const name of Object.values(VMS)) await lab.destroyVm(name).catch(() => {});
    dir = mkdtempSync(join(tmpdir(), 'vb-power-'));
    // lab1 lighter than lab2: consolidation empties lab1 (lightest of equal hosts first).
    await lab.createVm({ name: VMS.idle, host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 0, dirtyMiBps: 0, workloadMiB: 16 });
    await lab.createVm({ name: VMS.steady, host: 'lab2', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 30, dirtyMiBps: 0, workloadMiB: 16 });
  });
  afterAll(async () => {
    // Whatever happened, lab1's daemon runs again for the next test file.
    await lab.startHost('lab1').catch(() => {});
    for (const name of Object.values(VMS)) await lab.destroyVm(name).catch(() => {});
  });

  it('records off then on for lab1, standby in between, and lab1 a target again after it answers', async () => {
    const calls = join(dir, 'calls.log');
    const script = join(dir, 'power.sh');
    writeFileSync(script, `#!/bin/sh\necho "$(date +%s.%N) $*" >> "${calls}"\n`);
    chmodSync(script, 0o755);
    const base = await loadConfig(lab.paths.configFile);
    // lab1 smaller than lab2: consolidation empties the smallest host first, whatever the CPU noise.
    const hosts = base.hosts
      .filter((h) => h.name === 'lab1' || h.name === 'lab2')
      .map((h) => ({ ...h, capacity: { cpuCount: h.name === 'lab1' ? 4 : 5, memoryMiB: 400 } }));
    const config: Config = {
      ...base,
      hosts,
      stateDir: join(dir, 'state'),
      metrics: { listen: '' },
      policy: {
        ...base.policy,
        goal: 'consolidate',
        // Both hosts light (an idle and a 30 % VM on 4-5 CPUs), none CPU-hot.
        cpuHighPercent: 95,
        cpuLowPercent: 60,
        hysteresisPercent: 5,
        memoryHighPercent: 85,
        consolidation: { ...base.policy.consolidation, targetUtilizationPercent: 85, forecastAheadTicks: 0 },
        cooldownSeconds: 600,
        maxMovesPerTick: 1,
        allowedTechniques: ['precopy'],
      },
      migration: { ...base.migration, maxConcurrent: 1 },
      power: {
        ...base.power,
        action: 'command',
        powerOffCommand: [script, 'off', '{name}', '{address}'],
        powerOnCommand: [script, 'on', '{name}', '{address}'],
        commandTimeoutSeconds: 10,
        powerOffTimeoutSeconds: 60,
        wakeTimeoutSeconds: 90,
        minStandbySeconds: 0,
        minAwakeSeconds: 3600,
        minAwakeHosts: 1,
      },
    };
    const metrics = createMetrics(new Registry());
    const results: MigrationResult[] = [];
    const newController = () => new Controller(config, { logger: createLogger({ level: 'silent' }), metrics, onResult: (r) => results.push(r) });
    let controller = newController();
    const log: string[] = [];
    const note = (r: TickReport, tick: string) =>
      log.push(
        `${tick}: hosts ${r.state.hosts.map((h) => `${h.name}=${h.up ? 'up' : 'down'}${h.power ? `/${h.power}` : ''} ${(h.cpuUtilization.mean * 100).toFixed(0)}% mem ${h.memoryTotalBytes ? ((h.memoryUsedBytes / h.memoryTotalBytes) * 100).toFixed(0) : 0}%`).join(' ')}; moves ${r.plan.moves.map((m) => `${m.vmName}->${m.to}`).join(' ') || '-'}; power ${r.power?.actions.map((a) => `${a.action} ${a.host} (${a.mode})`).join(' ') || '-'}; held ${r.power?.held.map((h) => h.reason).join(' | ') || '-'}; skipped ${r.plan.skipped.map((s) => `${s.vmName}: ${s.reason}`).join(' | ') || '-'}`,
      );
    // The BMC: act on the calls the script records.
    const handled = new Set<string>();
    const bmcStarted: Record<string, number> = {};
    const bmc = async () => {
      const lines = existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [];
      for (const line of lines) {
        if (handled.has(line)) continue;
        handled.add(line);
        const [, verb, name] = line.split(' ');
        const t0 = Date.now();
        if (verb === 'off') await lab.stopHost(name);
        else if (verb === 'on') await lab.startHost(name);
        bmcStarted[verb] = Date.now() - t0;
      }
    };
    const context = () =>
      `${log.join('\n')}\ncalls: ${existsSync(calls) ? readFileSync(calls, 'utf8') : '-'}\nresults: ${results.map((r) => `${r.vm} ${r.from}->${r.to} ${r.outcome} ${r.error ?? ''}`).join('; ')}`;
    const tickUntil = async (what: string, done: (r: TickReport) => boolean, ticks: number, pauseMs = 2000): Promise<TickReport> => {
      for (let i = 1; i <= ticks; i++) {
        const r = await controller.tick();
        note(r, `${what} ${i}`);
        await controller.executor.whenIdle();
        await controller.power.idle();
        await bmc();
        if (done(r)) return r;
        await sleep(pauseMs);
      }
      throw new Error(`${what}: not reached in ${ticks} ticks\n${context()}`);
    };

    await controller.init();
    try {
      // 1. Packed, powered down, standby.
      const seqBefore = (await lab.heartbeat(VMS.idle)).seq;
      const standby = await tickUntil('pack', (r) => r.state.hosts.find((h) => h.name === 'lab1')?.power === 'standby', 20);
      expect(
        results.map((r) => `${r.vm} ${r.from}->${r.to} ${r.outcome}`),
        context(),
      ).toEqual([`${VMS.idle} lab1->lab2 completed`]);
      const lab1 = standby.state.hosts.find((h) => h.name === 'lab1')!;
      expect(lab1.up).toBe(false);
      expect(lab1.downReason, context()).toMatch(/^standby since .* \(power action; not an alarm\)$/);
      expect(standby.power?.hosts).toEqual([expect.objectContaining({ host: 'lab1', state: 'standby' })]);
      expect((await metrics.hostsStandby.get()).values[0].value).toBe(1);
      expect((await metrics.hostStandby.get()).values.find((v) => v.labels.host === 'lab1')?.value).toBe(1);
      await lab.waitForHeartbeat(VMS.idle, { afterSeq: seqBefore, timeoutMs: 60_000 });

      // A restarted controller finds lab1 standby again (from the journal), not down.
      await controller.stop();
      controller = newController();
      await controller.init();
      const restarted = await tickUntil('restarted', () => true, 1);
      expect(restarted.state.hosts.find((h) => h.name === 'lab1')?.power, context()).toBe('standby');

      // 2. lab2 made memory-hot: 3 x 128 of 400 MiB; only lab1 can take a VM.
      await lab.createVm({ name: VMS.hot, host: 'lab2', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 5, dirtyMiBps: 0, workloadMiB: 16 });
      const woken = await tickUntil('wake', () => results.some((x) => x.to === 'lab1' && x.outcome === 'completed'), 40);
      expect(woken.state.hosts.find((h) => h.name === 'lab1')?.power).toBeUndefined();

      // 3. Exactly two calls, for lab1 at its address; the journal has each step.
      const address = new URL(hosts[0].uri.replace(/^qemu\+tcp/, 'http')).hostname;
      const recorded = readFileSync(calls, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(1).join(' '));
      expect(recorded, context()).toEqual([`off lab1 ${address}`, `on lab1 ${address}`]);
      const journal = (await controller.journal.read()).filter((e): e is PowerJournalEntry => e.type === 'power');
      // `ran` (the command exited 0) may be journaled before or after a tick sees the host's answer change.
      expect(
        journal
          .filter((e) => e.event === 'ran')
          .map((e) => `${e.host} ${e.action} ${e.event}`)
          .sort(),
      ).toEqual(['lab1 power-off ran', 'lab1 power-on ran']);
      expect(journal.filter((e) => e.event !== 'ran').map((e) => `${e.host} ${e.action} ${e.event}`)).toEqual([
        'lab1 power-off requested',
        'lab1 power-off done',
        'lab1 power-on requested',
        'lab1 power-on done',
      ]);
      const wake = journal.find((e) => e.action === 'power-on' && e.event === 'requested')!;
      expect(wake.reason).toMatch(/on lab2 has no target among awake hosts; lab1 can take it/);
      const wokenSeconds = journal.find((e) => e.action === 'power-on' && e.event === 'done')!.seconds!;
      expect(wokenSeconds).toBeLessThan(90);
      const counts = (await metrics.powerActionsTotal.get()).values.map((v) => `${v.labels.action} ${v.labels.outcome} ${v.value}`).sort();
      expect(counts).toEqual(['power-off done 1', 'power-off ran 1', 'power-off requested 1', 'power-on done 1', 'power-on ran 1', 'power-on requested 1']);
      for (const name of Object.values(VMS)) await lab.waitForHeartbeat(name, { timeoutMs: 60_000 });
      // Figures for the report: from the wake request to lab1 answering (seen by a tick), and to its first move in.
      const firstIn = results.find((x) => x.to === 'lab1');
      console.log(
        `[power] power-on done ${wokenSeconds.toFixed(1)} s after the wake request (libvirtd start by the stand-in BMC ${((bmcStarted.on ?? 0) / 1000).toFixed(1)} s); first move to lab1 ${firstIn?.vm} ${firstIn?.outcome}\n${log.join('\n')}`,
      );
    } finally {
      await controller.executor.whenIdle();
      await controller.stop();
    }
  }, 600_000);
});
