/**
 * Executor paths that only real libvirt can answer (issue 15 item 8), each with the guest checked:
 * - the source's libvirtd killed mid pre-copy: the outcome must be what libvirt did;
 * - only the controller's link to the source lost mid pre-copy: libvirt carries the job on, so the
 *   move must be reported completed, not failed;
 * - the destination's QEMU killed after the switch to post-copy: an incident with both hosts' states;
 * - the controller gone during post-copy and the post-copy failing meanwhile: the next controller
 *   finds the job stuck in post-copy-failed and recovers or reports it, never polls it for ever.
 *
 * Links are cut with `ss -K` (sock_destroy, CONFIG_INET_DIAG_DESTROY), as postcopy-recovery.test.ts
 * does; libvirtd and QEMU are killed with SIGKILL.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { Collector } from '../../src/cluster/collector.js';
import { HostConnections } from '../../src/cluster/connections.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { Executor, type MigrationResult } from '../../src/executor/index.js';
import { Journal, readJournal, unfinishedStarts } from '../../src/history/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { createMetrics } from '../../src/metrics/catalog.js';
import { featureMissing } from '../../src/policy/capabilities.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { labMove } from '../../lab/moves.js';
import { run, sleep, virsh } from '../../lab/run.js';

// libvirtd's TCP port (libvirtd.conf tcp_port) and QEMU's default migration ports (qemu.conf migration_port_min/max).
const LIBVIRTD_TCP_PORT = 16509;
const MIGRATION_PORT_MIN = 49152;
const MIGRATION_PORT_MAX = 49215;

const created: string[] = [];
let lab: Lab;
let base: Config;

const domstate = (host: string, vm: string) =>
  virsh(lab.host(host).uri, ['domstate', '--reason', vm], 15_000).then(
    (r) => r.stdout.trim(),
    () => 'absent',
  );

async function waitForState(host: string, vm: string, want: RegExp, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < until) {
    state = await domstate(host, vm);
    if (want.test(state)) return state;
    await sleep(200);
  }
  throw new Error(`${vm} on ${host} did not reach ${want} in ${timeoutMs} ms (last: ${state})`);
}

/** Reset established TCP connections matching an ss filter; returns the sockets killed. */
async function killSockets(filter: string[]): Promise<string[]> {
  const { stdout } = await run('ss', ['-K', '-H', '-tn', 'state', 'established', ...filter]);
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

/** An executor as the controller builds it, on its own connections and journal. */
async function executorFor(config: Config, metrics = createMetrics(new Registry())) {
  const connections = new HostConnections(config, { logger: silentLogger() });
  await connections.start();
  const journal = new Journal(config.stateDir);
  const executor = new Executor(config, { connections, logger: silentLogger(), journal, metrics });
  const vm = async (name: string) => {
    const state = await new Collector(config, connections, { logger: silentLogger() }).collect();
    return { state, vm: state.vms.find((v) => v.name === name)! };
  };
  return { connections, journal, executor, metrics, vm };
}

describe('executor paths under failures, against real libvirt', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    base = await loadConfig(inject('labConfigPath'));
  });
  afterEach(async () => {
    for (const name of created.splice(0)) await lab.destroyVm(name).catch(() => {});
  });

  const slowPrecopy = (name: string): Config => ({
    ...base,
    stateDir: `${inject('labDir')}/state-paths-${name}`,
    policy: { ...base.policy, allowedTechniques: ['precopy'] },
    migration: { ...base.migration, bandwidthMiBps: 8, deadlineSeconds: 120, pollIntervalMs: 500 },
  });

  it("the source's libvirtd killed mid pre-copy: the reported outcome is where libvirt left the VM, and the guest is intact there", async () => {
    const VM = 'xp-srckill';
    created.push(VM);
    await lab.createVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 2, workloadMiB: 48 });
    const before = await lab.heartbeat(VM);
    const config = slowPrecopy('srckill');
    const { connections, executor, vm } = await executorFor(config);
    try {
      const { state, vm: found } = await vm(VM);
      expect(executor.submit([labMove(found, 'lab1', 'lab2', 'precopy')], state).admitted).toHaveLength(1);
      await waitForState('lab1', VM, /running \(migrat|paused \(migrat|running/, 10_000);
      await sleep(3000);
      await lab.stopHost('lab1');
      await sleep(2000);
      await lab.startHost('lab1');
      await executor.whenIdle();
      const [result] = executor.finished() as MigrationResult[];
      const states = `lab1: ${await domstate('lab1', VM)}; lab2: ${await domstate('lab2', VM)}`;
      console.log(`[source libvirtd killed] ${states}; outcome ${result.outcome}: ${result.error ?? ''}`);
      // Whatever libvirt did, the report must say the same (libvirt 11.3 cancels an outgoing
      // migration in its Perform phase when its daemon restarts: qemuProcessRecoverMigrationOut).
      if (/^lab1: running/.test(states)) {
        expect(result.outcome, `${states}; ${result.error}`).toBe('failed');
        expect(result.incident, states).toBeUndefined();
        expect(result.error).toMatch(/the link to lab1 was lost mid-move/);
        expect(states).not.toMatch(/lab2: running/);
      } else {
        expect(states).toMatch(/lab2: running/);
        expect(result.outcome, `${states}; ${result.error}`).toBe('completed');
      }
      expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 3, timeoutMs: 60_000 })).status).toBe('OK');
    } finally {
      await connections.close();
    }
  });

  it("only the controller's link to the source lost mid pre-copy: libvirt finishes the move and it is reported completed, guest intact on the target", async () => {
    const VM = 'xp-linklost';
    created.push(VM);
    await lab.createVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 10, dirtyMiBps: 2, workloadMiB: 48 });
    const before = await lab.heartbeat(VM);
    const config = slowPrecopy('linklost');
    const { connections, executor, journal, vm } = await executorFor(config);
    try {
      const { state, vm: found } = await vm(VM);
      expect(executor.submit([labMove(found, 'lab1', 'lab2', 'precopy')], state).admitted).toHaveLength(1);
      await sleep(4000);
      // Our connections to lab1's libvirtd only; lab1's own connection to lab2 is not one of them.
      const killed = await killSockets(['dst', lab.host('lab1').address, 'dport', '=', `:${LIBVIRTD_TCP_PORT}`]);
      expect(killed.length, 'ss -K killed no socket: the kernel needs CONFIG_INET_DIAG_DESTROY').toBeGreaterThan(0);
      await executor.whenIdle();
      const [result] = executor.finished() as MigrationResult[];
      const states = `lab1: ${await domstate('lab1', VM)}; lab2: ${await domstate('lab2', VM)}`;
      console.log(`[link lost] ${states}; outcome ${result.outcome} in ${result.totalMs} ms, downtime ${result.downtimeMs} ms`);
      expect(result.outcome, `${states}; ${result.error}; ${result.incident}`).toBe('completed');
      expect(states).toMatch(/lab2: running/);
      expect(states).not.toMatch(/lab1: running/);
      // libvirt's own figures, read from the target after the move.
      expect(result.totalMs).toBeGreaterThan(4000);
      expect((await readJournal(journal.file)).some((e) => e.type === 'adapted' && e.action === 'link-lost')).toBe(true);
      expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 3, timeoutMs: 60_000 })).status).toBe('OK');
    } finally {
      await connections.close();
    }
  });

  const slowPostcopy = (name: string): Config => ({
    ...base,
    stateDir: `${inject('labDir')}/state-paths-${name}`,
    policy: { ...base.policy, allowedTechniques: ['postcopy'] },
    migration: {
      ...base.migration,
      bandwidthMiBps: 4,
      deadlineSeconds: 300,
      pollIntervalMs: 300,
      techniques: { ...base.migration.techniques, postcopy: { ...base.migration.techniques.postcopy, postcopyBandwidthMiBps: 4 } },
    },
  });

  it("the destination's QEMU killed after the switch to post-copy: an incident with both hosts' states, counted, the VM not left paused silently", async () => {
    const VM = 'xp-dstqemu';
    created.push(VM);
    await lab.createVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 256, cpuBusyPercent: 10, dirtyMiBps: 0, workloadMiB: 64 });
    const config = slowPostcopy('dstqemu');
    const { connections, executor, metrics, vm } = await executorFor(config);
    try {
      const { state, vm: found } = await vm(VM);
      const predicted = { totalSeconds: 64, downtimeMs: 10, bytes: 256 * 2 ** 20, converges: true };
      expect(executor.submit([labMove(found, 'lab1', 'lab2', 'postcopy', { predicted })], state).admitted).toHaveLength(1);
      await waitForState('lab1', VM, /^paused \(post-copy\)$/, 30_000);
      await sleep(2000);
      const pid = Number((await readFile(join(lab.host('lab2').dir, 'run', 'qemu', `${VM}.pid`), 'utf8')).trim());
      expect(pid).toBeGreaterThan(1);
      process.kill(pid, 'SIGKILL');
      await executor.whenIdle();
      const [result] = executor.finished() as MigrationResult[];
      console.log(`[destination QEMU killed] ${result.outcome}: ${result.incident}`);
      expect(result.switchedToPostcopy).toBe(true);
      expect(result.outcome).toBe('failed');
      expect(result.incident).toMatch(
        /^post-copy failed after the switch \(.+\); recovery (not attempted: .+|failed \(\d+ attempts?\)); VM is paused \(reason \d+\) on lab1 and (absent|shutoff \(reason \d+\)) on lab2$/,
      );
      expect((await metrics.postcopyIncidentsTotal.get()).values[0]?.value).toBe(1);
      // The guest's memory was split between the hosts and half of it died with the destination's
      // QEMU: the source keeps it paused (resuming it would run a guest with stale memory).
      expect(await domstate('lab1', VM)).toMatch(/^paused \(post-copy failed\)$/);
    } finally {
      await connections.close();
    }
  });

  it('the controller gone during post-copy and the post-copy failing meanwhile: the next controller finds the stuck job and recovers or reports it', async () => {
    const VM = 'xp-pcdown';
    created.push(VM);
    await lab.createVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 256, cpuBusyPercent: 10, dirtyMiBps: 0, workloadMiB: 64 });
    const config = slowPostcopy('pcdown');
    const first = await executorFor(config);
    const { state, vm: found } = await first.vm(VM);
    const predicted = { totalSeconds: 64, downtimeMs: 10, bytes: 256 * 2 ** 20, converges: true };
    expect(first.executor.submit([labMove(found, 'lab1', 'lab2', 'postcopy', { predicted })], state).admitted).toHaveLength(1);
    await waitForState('lab1', VM, /^paused \(post-copy\)$/, 30_000);
    // The controller goes away (as on SIGKILL its connections close; libvirt carries the job on)...
    first.executor.detach();
    await first.connections.close();
    // ...and the migration stream breaks while no controller watches.
    await sleep(2000);
    const killed = await killSockets(['src', lab.host('lab2').address, 'sport', 'ge', `:${MIGRATION_PORT_MIN}`, 'sport', 'le', `:${MIGRATION_PORT_MAX}`]);
    expect(killed.length, 'ss -K killed no migration socket').toBeGreaterThan(0);
    await waitForState('lab1', VM, /^paused \(post-copy failed\)$/, 30_000);

    // The next controller: what the journal says was started, then the hosts' state.
    const second = await executorFor(config);
    try {
      const unfinished = unfinishedStarts(await readJournal(second.journal.file));
      expect([...unfinished.keys()]).toEqual([found.uuid]);
      second.executor.restoreUnfinished(unfinished);
      second.executor.reconcile((await second.vm(VM)).state);
      const idle = second.executor.whenIdle().then(() => 'idle');
      expect(await Promise.race([idle, sleep(60_000).then(() => 'still watching after 60 s')])).toBe('idle');
      const [result] = second.executor.finished() as MigrationResult[];
      console.log(`[post-copy failed while no controller ran] ${result.outcome}: ${result.incident}`);
      expect(result.adoptedAfterRestart).toBe(true);
      expect((await second.metrics.postcopyIncidentsTotal.get()).values[0]?.value).toBe(1);
      const sourceVersions = second.connections.get('lab1')!.versions;
      if (featureMissing('postcopyResume', sourceVersions)) {
        expect(result.outcome).toBe('failed');
        expect(result.incident).toMatch(
          /^post-copy failed after the switch \(found the post-copy failed .*\); recovery not attempted: libvirt \d+\.\d+\.\d+: .*; VM is paused \(reason 13\) on lab1 and (running|paused) \(reason \d+\) on lab2$/,
        );
      } else {
        expect(result.incident).toMatch(/recovery succeeded/);
        expect(result.outcome).toBe('completed');
      }
      const outcome = (await readJournal(second.journal.file)).find((e) => e.type === 'outcome' && e.vmUuid === found.uuid);
      expect(outcome, 'the outcome is journaled').toBeDefined();
    } finally {
      await second.connections.close();
      await virsh(lab.host('lab2').uri, ['destroy', VM]).catch(() => {});
    }
  });
});
