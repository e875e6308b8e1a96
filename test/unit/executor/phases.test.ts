import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { Adapter } from '../../../src/executor/adapt.js';
import { watchAdoptedJob } from '../../../src/executor/adopt.js';
import { runMigration } from '../../../src/executor/migrate.js';
import { watchJob } from '../../../src/executor/watch.js';
import { ConnectionClosedError, LibvirtError, MigrateFlags } from '../../../src/libvirt/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { asConn, RUNNING, ScriptedHost, UUID } from './scripted-host.js';

const PAUSED_POSTCOPY_FAILED = { state: 3, reason: 13 };
const RUNNING_POSTCOPY_FAILED = { state: 1, reason: 11 };
const config = { ...migrationSchema.parse({ deadlineSeconds: 60 }), pollIntervalMs: 10 };
const move: Move = {
  vmName: 'vm1',
  vmUuid: UUID,
  from: 'kvm1',
  to: 'kvm2',
  technique: 'precopy',
  copyStorage: false,
  predicted: { totalSeconds: 5, downtimeMs: 50, bytes: 2 ** 30, converges: true },
  reason: 'test',
  gain: 0.1,
  inputs: { memoryBytes: 2 ** 30, dirtyRateMiBps: 1, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
};

describe('the shared watch loop', () => {
  it('ends at a job stuck after a failed post-copy instead of polling it for ever', async () => {
    const source = new ScriptedHost(PAUSED_POSTCOPY_FAILED);
    source.job = 2;
    const r = await watchJob({ connectionOf: () => asConn(source), vmUuid: UUID, pollIntervalMs: 5, log: silentLogger(), detectPostcopyFailure: true });
    expect(r.end).toBe('postcopyFailed');
  });
  it('keeps watching while the source is down, then sees the job ended through the new connection', async () => {
    const back = new ScriptedHost(RUNNING);
    let polls = 0;
    const r = await watchJob({ connectionOf: () => (++polls < 5 ? undefined : asConn(back)), vmUuid: UUID, pollIntervalMs: 5, log: silentLogger() });
    expect(r.end).toBe('ended');
    expect(polls).toBe(5);
  });
  it('gives up with `unreachable` when the source never answers again', async () => {
    const r = await watchJob({ connectionOf: () => undefined, vmUuid: UUID, pollIntervalMs: 5, log: silentLogger(), giveUpAtMs: Date.now() + 30 });
    expect(r.end).toBe('unreachable');
  });
  it('sends one abort when the caller gives a reason, and says why', async () => {
    const source = new ScriptedHost(RUNNING);
    source.job = 2;
    let polls = 0;
    const r = await watchJob({
      connectionOf: () => asConn(source),
      vmUuid: UUID,
      pollIntervalMs: 5,
      log: silentLogger(),
      until: () => polls > 4,
      onSample: async () => void polls++,
      abortReason: async () => 'deadline of 1 s reached',
    });
    expect(r).toEqual({ end: 'settled', abortedWhy: 'deadline of 1 s reached' });
    expect(source.aborts).toBe(1);
  });
});

describe('a move whose link to the source is lost mid-move', () => {
  it('is completed when libvirt finished it: the VM runs on the target and is gone from the source', async () => {
    const source = new ScriptedHost(RUNNING);
    source.job = 2;
    source.perform = () => Promise.reject(new ConnectionClosedError('connection to qemu+tcp://kvm1/system was closed by the peer'));
    const target = new ScriptedHost(undefined);
    // Seen again through the reopened connection: libvirt carried the job on to the end.
    const sourceAgain = new ScriptedHost(undefined);
    target.vm = RUNNING;
    const result = await runMigration(move, {
      source: asConn(source),
      target: asConn(target),
      targetUri: 'qemu+tcp://kvm2/system',
      connectionOf: (h) => asConn(h === 'kvm1' ? sourceAgain : target),
      config,
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
    });
    expect(result.outcome).toBe('completed');
    expect(result.totalMs).toBe(4200);
    expect(result.downtimeMs).toBe(42);
    expect(result.incident).toBeUndefined();
  });
  it('is failed, without an incident, when libvirt cancelled it and the VM runs on the source', async () => {
    const source = new ScriptedHost(RUNNING);
    source.job = 2;
    source.perform = () => Promise.reject(new ConnectionClosedError('connection to qemu+tcp://kvm1/system was closed by the peer'));
    const target = new ScriptedHost(undefined);
    const sourceAgain = new ScriptedHost(RUNNING);
    const result = await runMigration(move, {
      source: asConn(source),
      target: asConn(target),
      targetUri: 'qemu+tcp://kvm2/system',
      connectionOf: (h) => asConn(h === 'kvm1' ? sourceAgain : target),
      config,
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
    });
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/the link to kvm1 was lost mid-move .*libvirt ended the migration without moving the VM/);
    expect(result.incident).toBeUndefined();
  });
  it('is failed with an incident naming both states when the VM is on neither host', async () => {
    const source = new ScriptedHost(RUNNING);
    source.perform = () => Promise.reject(new ConnectionClosedError('closed'));
    const target = new ScriptedHost(undefined);
    const sourceAgain = new ScriptedHost({ state: 5, reason: 2 });
    const result = await runMigration(move, {
      source: asConn(source),
      target: asConn(target),
      targetUri: 'qemu+tcp://kvm2/system',
      connectionOf: (h) => asConn(h === 'kvm1' ? sourceAgain : target),
      config,
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
    });
    expect(result.outcome).toBe('failed');
    expect(result.incident).toBe('the VM is shutoff (reason 2) on kvm1 and absent on kvm2');
  });
  it('a libvirt error (not a lost link) is still reported at once from the source', async () => {
    const source = new ScriptedHost(RUNNING);
    source.perform = () =>
      Promise.reject(new LibvirtError({ code: 9, domain: 10, message: 'operation failed: migration out job: unexpectedly failed', level: 2 }));
    const target = new ScriptedHost(undefined);
    const result = await runMigration(move, {
      source: asConn(source),
      target: asConn(target),
      targetUri: 'qemu+tcp://kvm2/system',
      config,
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
    });
    expect(result).toMatchObject({ outcome: 'failed', error: 'VIR_ERR_OPERATION_FAILED: operation failed: migration out job: unexpectedly failed' });
    expect(result.incident).toBeUndefined();
  });
});

describe('a paused VM, with post-copy allowed (the default policy)', () => {
  const PAUSED = { state: 3, reason: 1 };
  const options = (source: ScriptedHost, logger = silentLogger()) => ({
    source: asConn(source),
    target: asConn(new ScriptedHost(undefined)),
    targetUri: 'qemu+tcp://kvm2/system',
    config,
    downtimeBudgetMs: 300,
    allowPostcopySwitch: true,
    logger,
  });

  it('moves by pre-copy without VIR_MIGRATE_POSTCOPY: the state is read from libvirt right before the call', async () => {
    const source = new ScriptedHost(PAUSED);
    source.perform = () => Promise.reject(new LibvirtError({ code: 9, domain: 10, message: 'operation failed: test stops here', level: 2 }));
    await runMigration(move, options(source));
    expect(source.performed).toHaveLength(1);
    expect(source.performed[0] & MigrateFlags.POSTCOPY).toBe(0);
    // The same move of a running VM has the post-copy fallback: the state, not the plan, decides.
    const running = new ScriptedHost(RUNNING);
    running.perform = source.perform;
    await runMigration(move, options(running));
    expect(running.performed[0] & MigrateFlags.POSTCOPY).toBe(MigrateFlags.POSTCOPY);
  });

  it('a post-copy move of it is refused before libvirt is asked, naming its state', async () => {
    const source = new ScriptedHost(PAUSED);
    const result = await runMigration({ ...move, technique: 'postcopy' }, options(source));
    expect(source.performed).toEqual([]);
    expect(result).toMatchObject({
      outcome: 'failed',
      totalMs: 0,
      error: 'VM vm1 is paused: it moves only by a pre-copy-family technique (precopy, xbzrle, autoconverge, multifd), not postcopy; the move was not started',
    });
  });

  it('a pre-copy whose guest was paused mid-move is not switched to post-copy when stuck; a running one is', async () => {
    const stuck = { memory_iteration: 0, data_remaining: 2 ** 30 };
    const run = async (host: ScriptedHost) => {
      const recipe = { flags: 0, params: {}, postcopy: { mode: 'whenStuck' as const } };
      const adapter = new Adapter({ recipe, config, downtimeBudgetMs: 300, startedAtMs: Date.now(), log: silentLogger() });
      const dom = await host.domainLookupByUuid(UUID);
      for (let i = 1; i <= 6; i++) await adapter.onSample({ ...stuck, memory_iteration: i }, asConn(host), dom);
      return adapter.switchedToPostcopy;
    };
    const paused = new ScriptedHost(PAUSED);
    expect(await run(paused)).toBe(false);
    expect(paused.switches).toBe(0);
    const running = new ScriptedHost(RUNNING);
    expect(await run(running)).toBe(true);
    expect(running.switches).toBe(1);
  });

  it("a failed move says the VM is still paused on the source, not 'running'", async () => {
    const source = new ScriptedHost(PAUSED);
    source.perform = () =>
      Promise.reject(new LibvirtError({ code: 9, domain: 10, message: 'operation failed: migration out job: unexpectedly failed', level: 2 }));
    const lines: string[] = [];
    const result = await runMigration(move, options(source, pino({ level: 'warn' }, { write: (line: string) => lines.push(line) })));
    expect(result.outcome).toBe('failed');
    expect(lines.map((l) => JSON.parse(l).msg)).toContain('migration failed; VM still paused on the source');
    expect(lines.join('\n')).not.toMatch(/still running/);
  });
});

describe('a job adopted after a restart and found stuck after a failed post-copy', () => {
  const job = { vm: 'vm1', vmUuid: UUID, from: 'kvm1', to: 'kvm2', technique: 'postcopy', startedAtMs: Date.now() - 10_000, deadlineSeconds: 60 };
  it("is reported as a post-copy incident with both hosts' states where libvirt cannot resume (11.3)", async () => {
    const source = new ScriptedHost(PAUSED_POSTCOPY_FAILED);
    source.job = 2;
    const target = new ScriptedHost(RUNNING_POSTCOPY_FAILED);
    const metrics = createMetrics(new Registry());
    const result = await watchAdoptedJob({
      job,
      connectionOf: (h) => asConn(h === 'kvm1' ? source : target),
      targetUri: 'qemu+tcp://kvm2/system',
      config,
      logger: silentLogger(),
      metrics,
      stopped: () => false,
    });
    expect(result?.outcome).toBe('failed');
    expect(result?.incident).toMatch(
      /^post-copy failed after the switch \(found the post-copy failed .*\); recovery not attempted: libvirt 11\.3\.0.*; VM is paused \(reason 13\) on kvm1 and running \(reason 11\) on kvm2$/,
    );
    expect(source.performed).toEqual([]);
    expect((await metrics.postcopyIncidentsTotal.get()).values[0]?.value).toBe(1);
  });
  it('is resumed with VIR_MIGRATE_POSTCOPY_RESUME where libvirt can (10.0), and completed when the VM then runs on the target', async () => {
    const source = new ScriptedHost(PAUSED_POSTCOPY_FAILED);
    source.job = 2;
    source.versions = { libvirtVersion: 10_000_000, hypervisorVersion: 8_002_000 };
    const target = new ScriptedHost(RUNNING_POSTCOPY_FAILED);
    target.versions = source.versions;
    source.perform = async () => {
      target.vm = RUNNING;
    };
    const result = await watchAdoptedJob({
      job,
      connectionOf: (h) => asConn(h === 'kvm1' ? source : target),
      targetUri: 'qemu+tcp://kvm2/system',
      config,
      logger: silentLogger(),
      stopped: () => false,
    });
    expect(result?.outcome).toBe('completed');
    expect(result?.incident).toMatch(/recovery succeeded \(1 attempt\)/);
    // VIR_MIGRATE_POSTCOPY_RESUME is 1 << 19 (libvirt-domain.h).
    expect(source.performed).toHaveLength(1);
    expect(source.performed[0]! & (1 << 19)).toBe(1 << 19);
  });
});

describe('a move aborted at its deadline', () => {
  it("says 'aborted: N s deadline' with libvirt's words, as the journal and history have since wave 1", async () => {
    const source = new ScriptedHost(RUNNING);
    source.job = 2;
    let rejectPerform: (e: Error) => void = () => {};
    source.perform = () => new Promise((_, reject) => (rejectPerform = reject));
    source.domainAbortJob = async () => {
      source.aborts++;
      rejectPerform(new LibvirtError({ code: 78, domain: 10, message: 'operation aborted: migration out job: canceled by client', level: 2 }));
    };
    const target = new ScriptedHost(undefined);
    const stuck = { ...move, predicted: { ...move.predicted, converges: false } };
    const result = await runMigration(stuck, {
      source: asConn(source),
      target: asConn(target),
      targetUri: 'qemu+tcp://kvm2/system',
      config: { ...config, deadlineSeconds: 1 },
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
    });
    expect(source.aborts).toBe(1);
    expect(result.outcome).toBe('aborted');
    expect(result.error).toBe('aborted: 1 s deadline (VIR_ERR_OPERATION_ABORTED: operation aborted: migration out job: canceled by client)');
  });
});
