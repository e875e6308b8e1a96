/**
 * The hard regime, through the product's executor: a guest that keeps writing (8 MiB/s over a
 * 64 MiB working set) migrated with every technique under a 16 MiB/s bandwidth cap, so pre-copy
 * needs several rounds and every move lasts longer than the 3 s libvirt call timeout set here.
 * After each move the guest's own memory check (heartbeat) must say OK on the target, the outcome
 * must be `completed` with libvirt's real figures, and bytes / (time x cap) over the whole move must
 * stay within 1.1 for every technique, post-copy included (the executor's cap governor lowers QEMU's
 * post-copy limit by what postcopy-preempt's urgent pages add). Figures go to <labDir>/technique-trials.json for docs/lab.md.
 *
 * Last, a move that cannot converge is aborted at its deadline: the VM keeps running on the
 * source with its memory intact.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Collector } from '../../src/cluster/collector.js';
import { HostConnections } from '../../src/cluster/connections.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { Executor, type MigrationResult } from '../../src/executor/index.js';
import { Journal, readJournal } from '../../src/history/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { predictTechnique } from '../../src/policy/chooser.js';
import type { Move, Technique } from '../../src/policy/plan-types.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { labMove } from '../../lab/moves.js';
import { virsh } from '../../lab/run.js';

const MiB = 2 ** 20;
const CAP_MIBPS = 16;
const DIRTY_MIBPS = 8;
const CALL_TIMEOUT_SECONDS = 3;

interface Trial {
  name: string;
  technique: Technique;
  /** Overrides of migration.techniques for this trial. */
  techniques?: Partial<Config['migration']['techniques']>;
  /** The trial's bandwidth cap, MiB/s (default CAP_MIBPS). */
  capMiBps?: number;
}

const TRIALS: Trial[] = [
  { name: 'precopy', technique: 'precopy' },
  { name: 'xbzrle', technique: 'xbzrle' },
  { name: 'autoconverge', technique: 'autoconverge' },
  { name: 'multifd', technique: 'multifd' },
  // zstd sends the lab guest's memory at about a seventh of its size (36 MiB for 256 MiB in CI on
  // 2026-12-07, once the cap governor stopped holding multifd at half the cap): under the common cap
  // it ended in 2.5 s, out of the hard regime. A quarter of the cap keeps the compressed stream
  // bandwidth-bound, multi-round and longer than the call timeout.
  {
    name: 'multifd-zstd',
    technique: 'multifd',
    techniques: { multifd: { connections: 2, compression: 'zstd', zstdLevel: 1, zeroCopy: false } },
    capMiBps: CAP_MIBPS / 4,
  },
  { name: 'hybrid', technique: 'hybrid' },
  { name: 'postcopy', technique: 'postcopy' },
];

let lab: Lab;
let config: Config;
let connections: HostConnections;
const rows: Record<string, unknown>[] = [];

function moveFor(vm: { name: string; uuid: string; memoryBytes: number }, from: string, to: string, technique: Technique, capMiBps: number): Move {
  const inputs = { memoryBytes: vm.memoryBytes, dirtyRateMiBps: DIRTY_MIBPS, bandwidthMiBps: capMiBps, downtimeBudgetMs: 300 };
  const p = predictTechnique(technique, inputs);
  const predicted = { totalSeconds: p.totalSeconds, downtimeMs: p.downtimeMs, bytes: p.bytes, iterations: p.iterations, converges: p.converges };
  return labMove(vm, from, to, technique, { predicted, inputs, reason: 'lab: hard-regime technique trial' });
}

describe('every technique in the hard regime: bandwidth-capped, multi-round, longer than the call timeout, guest intact', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    const base = await loadConfig(inject('labConfigPath'));
    config = {
      ...base,
      stateDir: `${inject('labDir')}/state-hard-regime`,
      libvirt: { ...base.libvirt, callTimeoutSeconds: CALL_TIMEOUT_SECONDS },
      policy: { ...base.policy, allowedTechniques: ['precopy', 'xbzrle', 'autoconverge', 'multifd', 'hybrid', 'postcopy'] },
      migration: { ...base.migration, bandwidthMiBps: CAP_MIBPS, pollIntervalMs: 500, deadlineSeconds: 120, switchToPostcopyWhenStuck: false },
    };
    connections = new HostConnections(config, { logger: silentLogger() });
    await connections.start();
    await lab.createVm({ name: 'hard1', host: 'lab1', vcpus: 1, memoryMiB: 256, cpuBusyPercent: 10, dirtyMiBps: DIRTY_MIBPS, workloadMiB: 64 });
  });
  afterAll(async () => {
    await connections?.close();
    await lab?.destroyVm('hard1').catch(() => {});
    await lab?.destroyVm('hard-stuck').catch(() => {});
    console.table(rows);
    if (lab) writeFileSync(join(lab.paths.root, 'technique-trials.json'), JSON.stringify(rows, null, 2));
  });

  for (const trial of TRIALS) {
    it(trial.name, async () => {
      const cap = trial.capMiBps ?? CAP_MIBPS;
      const trialConfig: Config = {
        ...config,
        migration: { ...config.migration, bandwidthMiBps: cap, techniques: { ...config.migration.techniques, ...trial.techniques } },
      };
      const state = await new Collector(trialConfig, connections, { logger: silentLogger() }).collect();
      const vm = state.vms.find((v) => v.name === 'hard1')!;
      const to = vm.host === 'lab1' ? 'lab2' : 'lab1';
      const before = await lab.heartbeat('hard1');
      const executor = new Executor(trialConfig, { connections, logger: silentLogger(), journal: new Journal(trialConfig.stateDir) });
      let maxPrecopyMiBps = 0;
      let maxPostcopyMiBps = 0;
      let minPostcopyLimitMiBps: number | undefined;
      // Bytes and time at the first watch after the switch: the post-copy phase's own average.
      let atSwitch: { bytes: number; elapsedMs: number } | undefined;
      // QEMU's own migration parameters once in post-copy: the cap the product asked for.
      let qemuParamsAtSwitch: Promise<string> | undefined;
      const result: MigrationResult = await executor.runNow(moveFor(vm, vm.host, to, trial.technique, cap), {
        onProgress: (p) => {
          if (p.postcopyLimitMiBps !== undefined) minPostcopyLimitMiBps = Math.min(minPostcopyLimitMiBps ?? p.postcopyLimitMiBps, p.postcopyLimitMiBps);
          if (p.phase === 'postcopy' && !atSwitch) {
            atSwitch = { bytes: p.dataProcessedBytes, elapsedMs: p.elapsedMs };
            qemuParamsAtSwitch = virsh(lab.host(vm.host).uri, ['qemu-monitor-command', 'hard1', '{"execute":"query-migrate-parameters"}']).then(
              (r) => r.stdout,
              (e: Error) => e.message,
            );
          }
          // memory_bps is libvirt's recent-throughput figure; ignore the first samples.
          if (p.elapsedMs < 2000) return;
          if (p.phase === 'precopy') maxPrecopyMiBps = Math.max(maxPrecopyMiBps, p.mibps);
          else maxPostcopyMiBps = Math.max(maxPostcopyMiBps, p.mibps);
        },
      });
      const postcopyPhaseMiBps =
        atSwitch && result.bytes !== undefined && result.totalMs > atSwitch.elapsedMs + 1000
          ? (result.bytes - atSwitch.bytes) / MiB / ((result.totalMs - atSwitch.elapsedMs) / 1000)
          : undefined;
      const heartbeat = await lab
        .waitForHeartbeat('hard1', { afterSeq: before.seq + 3, timeoutMs: 60_000 })
        .catch((e: Error) => ({ status: `none: ${e.message}` }));
      rows.push({
        trial: trial.name,
        outcome: result.outcome,
        totalS: +(result.totalMs / 1000).toFixed(2),
        predictedS: +result.predicted.totalSeconds.toFixed(2),
        downtimeMs: result.downtimeMs,
        iterations: result.iterations,
        sentMiB: result.bytes !== undefined ? +(result.bytes / MiB).toFixed(1) : undefined,
        avgMiBps: result.bytes !== undefined ? +(result.bytes / MiB / (result.totalMs / 1000)).toFixed(1) : undefined,
        capRatio: result.bytes !== undefined ? +(result.bytes / MiB / (result.totalMs / 1000) / cap).toFixed(3) : undefined,
        postcopyS: atSwitch ? +((result.totalMs - atSwitch.elapsedMs) / 1000).toFixed(2) : undefined,
        minPostcopyLimitMiBps,
        maxPrecopyMiBps: +maxPrecopyMiBps.toFixed(1),
        maxPostcopyMiBps: +maxPostcopyMiBps.toFixed(1),
        postcopyPhaseMiBps: postcopyPhaseMiBps === undefined ? undefined : +postcopyPhaseMiBps.toFixed(1),
        switchedToPostcopy: result.switchedToPostcopy,
        heartbeat: heartbeat.status,
        error: result.error,
      });
      expect(result.outcome, result.error ?? result.incident).toBe('completed');
      expect(await lab.whereIs('hard1')).toBe(to);
      expect(heartbeat.status, 'the guest checks its own memory: it must be intact on the target').toBe('OK');
      // Longer than the call timeout, and still watched to its end and reported with libvirt's figures.
      expect(result.totalMs).toBeGreaterThan(CALL_TIMEOUT_SECONDS * 1000);
      expect(result.bytes).toBeGreaterThan(32 * MiB);
      expect(result.downtimeMs).toBeDefined();
      if (trial.technique !== 'postcopy') expect(result.iterations ?? 0, 'pre-copy ran several rounds').toBeGreaterThanOrEqual(2);
      // The cap holds over the whole move, whatever the technique: 10 % for libvirt's accounting and
      // the final round. Post-copy included: the pages a faulting vCPU asks for go on postcopy-preempt's
      // own channel, outside QEMU's limit, and the executor's cap governor (cap-governor.ts) lowers
      // max-postcopy-bandwidth by what they add.
      if (result.bytes !== undefined) expect(result.bytes / MiB / (result.totalMs / 1000), 'bytes / (time x cap)').toBeLessThanOrEqual(cap * 1.1);
      // After the switch QEMU runs with a post-copy limit (0 would mean unlimited): the cap, or
      // what the governor left of it after the urgent pages.
      if (qemuParamsAtSwitch) {
        const answer = await qemuParamsAtSwitch;
        // A post-copy phase shorter than the query (0.01 s in CI on 2026-12-07) leaves no source
        // QEMU to ask: then the limit the executor set at the switch, as it reported it, stands in.
        const gone = /domain is not running/.test(answer);
        const limit = gone ? (minPostcopyLimitMiBps ?? 0) * MiB : Number(/"max-postcopy-bandwidth":(\d+)/.exec(answer)?.[1]);
        expect(limit, `QEMU's max-postcopy-bandwidth at the switch: ${answer}`).toBeGreaterThan(0);
        expect(limit).toBeLessThanOrEqual(cap * MiB);
      }
      if (trial.technique === 'hybrid' || trial.technique === 'postcopy') expect(result.switchedToPostcopy).toBe(true);
    });
  }

  it('a move that cannot converge is aborted at its deadline; the VM runs on the source, memory intact', async () => {
    await lab.createVm({ name: 'hard-stuck', host: 'lab2', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 40, workloadMiB: 64 });
    const stuck: Config = {
      ...config,
      stateDir: `${inject('labDir')}/state-hard-stuck`,
      migration: { ...config.migration, bandwidthMiBps: 8, deadlineSeconds: 8 },
    };
    const state = await new Collector(stuck, connections, { logger: silentLogger() }).collect();
    const vm = state.vms.find((v) => v.name === 'hard-stuck')!;
    const before = await lab.heartbeat('hard-stuck');
    const move = {
      ...moveFor(vm, 'lab2', 'lab3', 'precopy', CAP_MIBPS),
      inputs: { memoryBytes: vm.memoryBytes, dirtyRateMiBps: 40, bandwidthMiBps: 8, downtimeBudgetMs: 300 },
    };
    move.predicted = { ...move.predicted, converges: false };
    const journal = new Journal(stuck.stateDir);
    const result = await new Executor(stuck, { connections, logger: silentLogger(), journal }).runNow(move);
    expect(result.outcome).toBe('aborted');
    expect(result.error).toMatch(/8 s deadline/);
    expect(result.totalMs).toBeGreaterThanOrEqual(8000);
    expect(await lab.whereIs('hard-stuck')).toBe('lab2');
    expect((await lab.waitForHeartbeat('hard-stuck', { afterSeq: before.seq + 3, timeoutMs: 30_000 })).status).toBe('OK');
    const entries = await readJournal(journal.file);
    expect(entries.some((e) => e.type === 'started' && e.vm === 'hard-stuck' && e.deadlineSeconds === 8)).toBe(true);
  });
});
