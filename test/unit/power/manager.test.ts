import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../../src/config/schema.js';
import type { JournalEntry, PowerJournalEntry } from '../../../src/history/index.js';
import { createLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import type { CommandResult } from '../../../src/power/command.js';
import type { PowerDecision } from '../../../src/power/decide.js';
import { describeEntry } from '../../../src/cli/commands/history.js';
import { PowerManager } from '../../../src/power/manager.js';
import { host, state } from '../policy/fixtures.js';

function config(extra: { power?: Record<string, unknown>; automation?: string } = {}): Config {
  return configSchema.parse({
    hosts: [
      { name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' },
      { name: 'kvm2', uri: 'qemu+tcp://10.0.0.2/system', powerAddress: '52:54:00:aa:bb:02' },
    ],
    policy: { goal: 'consolidate', automation: extra.automation ?? 'full' },
    power: {
      action: 'command',
      powerOffCommand: ['ipmitool', '-H', '{address}', 'chassis', 'power', 'soft', '--host={name}'],
      powerOnCommand: ['wakeonlan', '{address}'],
      ...extra.power,
    },
  });
}

function setup(cfg: Config, result: Partial<CommandResult> = {}) {
  const journal: JournalEntry[] = [];
  const runs: string[][] = [];
  const metrics = createMetrics(new Registry());
  let now = 1_000_000;
  const woken: string[] = [];
  const manager = new PowerManager(cfg, {
    journal: { append: async (e: JournalEntry) => void journal.push(e) },
    logger: createLogger({ level: 'silent' }),
    metrics,
    connection: () => undefined,
    onWakeRequested: (h) => woken.push(h),
    runCommand: async (argv) => {
      runs.push([...argv]);
      return { ok: true, exitCode: 0, stderr: '', durationMs: 5, ...result };
    },
    now: () => now,
  });
  return { manager, journal, runs, metrics, woken, advance: (ms: number) => (now += ms) };
}

const off: PowerDecision = { host: 'kvm2', action: 'power-off', reason: 'emptied' };
const on: PowerDecision = { host: 'kvm2', action: 'power-on', reason: 'needed' };
const events = (j: JournalEntry[]) => (j as PowerJournalEntry[]).map((e) => `${e.host} ${e.action} ${e.event}${e.dryRun ? ' dry-run' : ''}`);
const counter = async (m: ReturnType<typeof createMetrics>) =>
  (await m.powerActionsTotal.get()).values.map((v) => `${v.labels.action} ${v.labels.outcome} ${v.value}`).sort();

describe('power manager', () => {
  it('automation full: runs the command with the host templated (argv, no shell), journals requested then done when the host stops answering, and counts both', async () => {
    const t = setup(config());
    expect(t.manager.carryOut([off], false)).toEqual([{ ...off, mode: 'run' }]);
    await t.manager.idle();
    expect(t.runs).toEqual([['ipmitool', '-H', '52:54:00:aa:bb:02', 'chassis', 'power', 'soft', '--host=kvm2']]);
    expect(t.manager.states.of('kvm2').state).toBe('powering-off');
    t.advance(12_000);
    const s = state([host('kvm1', { cpuCount: 8 }), host('kvm2', { cpuCount: 4 })], []);
    t.manager.observe(s); // still answers: capacity remembered, nothing ends yet
    const marked = t.manager.observe({ ...s, hosts: [s.hosts[0], { ...s.hosts[1], up: false, downReason: 'connection refused' }] });
    expect(marked.hosts[1].power).toBe('standby');
    expect(events(t.journal)).toEqual(['kvm2 power-off requested', 'kvm2 power-off ran', 'kvm2 power-off done']);
    expect(t.journal[2]).toMatchObject({ seconds: 12, method: 'command', capacity: { cpuCount: 4, memoryTotalBytes: 16 * 2 ** 30 } });
    expect(await counter(t.metrics)).toEqual(['power-off done 1', 'power-off ran 1', 'power-off requested 1']);
    expect((await t.metrics.hostsStandby.get()).values[0].value).toBe(1);
    expect((await t.metrics.hostStandby.get()).values.map((v) => [v.labels.host, v.value])).toEqual([
      ['kvm1', 0],
      ['kvm2', 1],
    ]);
    // Woken: the connection is retried at once, and the host is a target when it answers.
    t.manager.carryOut([on], false);
    await t.manager.idle();
    expect(t.runs[1]).toEqual(['wakeonlan', '52:54:00:aa:bb:02']);
    expect(t.woken).toEqual(['kvm2']);
    t.advance(30_000);
    expect(t.manager.observe(s).hosts[1].power).toBeUndefined();
    expect(events(t.journal).slice(3)).toEqual(['kvm2 power-on requested', 'kvm2 power-on ran', 'kvm2 power-on done']);
    expect(t.journal.at(-1)).toMatchObject({ seconds: 30 });
  });

  it('idle() (run --once, stop) waits for a started command and journals its success as ran, the host still powering-off until it stops answering', async () => {
    const journal: JournalEntry[] = [];
    let finish: () => void = () => {};
    const manager = new PowerManager(config(), {
      // A slow disk: the entry is on the journal only when append resolves.
      journal: { append: (e: JournalEntry) => new Promise<void>((r) => setTimeout(() => r(void journal.push(e)), 20)) },
      logger: createLogger({ level: 'silent' }),
      connection: () => undefined,
      runCommand: () => new Promise((r) => (finish = () => r({ ok: true, exitCode: 0, stderr: '', durationMs: 40 }))),
      now: () => 5_000,
    });
    manager.carryOut([off], false);
    expect(manager.busy).toBeGreaterThan(0);
    const idle = manager.idle();
    setTimeout(() => finish(), 30);
    await idle;
    expect(manager.busy).toBe(0);
    expect(events(journal)).toEqual(['kvm2 power-off requested', 'kvm2 power-off ran']);
    expect(journal[1]).toMatchObject({
      seconds: 0,
      detail: 'the command exited 0; standby once a controller sees the host stop answering libvirt (within power.powerOffTimeoutSeconds 300 s)',
    });
    expect(manager.states.of('kvm2').state).toBe('powering-off');
  });

  it('a failing command is journaled failed with its exit status and stderr, and the host is awake again', async () => {
    const t = setup(config(), { ok: false, exitCode: 1, stderr: 'Unable to establish IPMI v2 / RMCP+ session', error: 'ipmitool exited with status 1' });
    t.manager.carryOut([off], false);
    await t.manager.idle();
    expect(events(t.journal)).toEqual(['kvm2 power-off requested', 'kvm2 power-off failed']);
    expect(t.journal[1]).toMatchObject({ exitCode: 1, stderr: 'Unable to establish IPMI v2 / RMCP+ session', detail: 'ipmitool exited with status 1' });
    expect(t.manager.states.of('kvm2').state).toBe('awake');
    expect(await counter(t.metrics)).toEqual(['power-off failed 1', 'power-off requested 1']);
  });

  it('automation manual recommends and runs nothing, journaling a recommendation once while it stays wanted', async () => {
    const t = setup(config({ automation: 'manual' }));
    // The expanded command the operator would run, in the plan and on the journal entry (history).
    const command = 'ipmitool -H 52:54:00:aa:bb:02 chassis power soft --host=kvm2';
    expect(t.manager.carryOut([off], false)).toEqual([{ ...off, mode: 'recommended', command }]);
    t.manager.carryOut([off], false);
    t.manager.carryOut([], false);
    t.manager.carryOut([off], false);
    await t.manager.idle();
    expect(t.runs).toEqual([]);
    expect(events(t.journal)).toEqual(['kvm2 power-off recommended', 'kvm2 power-off recommended']);
    expect(t.journal[0]).toMatchObject({ command });
    expect(describeEntry(t.journal[0]).at(-1)).toBe(`emptied, to run by hand: ${command}`);
    expect(t.manager.states.of('kvm2').state).toBe('awake');
  });

  it('automation partial wakes (capacity the plan needs) and only recommends power-offs; a dry run only recommends', async () => {
    const t = setup(config({ automation: 'partial' }));
    expect(t.manager.carryOut([off, { ...on, host: 'kvm1' }], false).map((a) => `${a.host} ${a.action} ${a.mode}`)).toEqual([
      'kvm2 power-off recommended',
      'kvm1 power-on run',
    ]);
    await t.manager.idle();
    expect(t.runs).toEqual([['wakeonlan', '10.0.0.1']]);
    const d = setup(config());
    expect(d.manager.carryOut([off], true)).toEqual([{ ...off, mode: 'recommended', command: 'ipmitool -H 52:54:00:aa:bb:02 chassis power soft --host=kvm2' }]);
    expect(events(d.journal)).toEqual(['kvm2 power-off recommended dry-run']);
    expect(d.runs).toEqual([]);
  });

  it('survives a restart: the states come back from the journal', async () => {
    const t = setup(config());
    t.manager.carryOut([off], false);
    await t.manager.idle();
    t.manager.observe(state([host('kvm1'), host('kvm2')], []));
    t.manager.observe(state([host('kvm1'), host('kvm2', { up: false })], []));
    const again = new PowerManager(
      config(),
      { journal: { append: async () => {} }, logger: createLogger({ level: 'silent' }), connection: () => undefined },
      t.journal,
    );
    expect(again.states.of('kvm2')).toMatchObject({ state: 'standby', capacity: { cpuCount: 4 } });
    expect(again.report([], []).hosts).toEqual([{ host: 'kvm2', state: 'standby', sinceMs: 1_000_000 }]);
  });
});

describe('power entries in the journal file', () => {
  it('are read back after a restart (a standby host stays standby), and a malformed one is skipped with a warning', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { appendFileSync } = await import('node:fs');
    const { Journal, readJournal } = await import('../../../src/history/index.js');
    const dir = await mkdtemp(join(tmpdir(), 'vb-power-journal-'));
    const journal = new Journal(dir);
    const t = setup(config());
    const manager = new PowerManager(config(), {
      journal,
      logger: createLogger({ level: 'silent' }),
      connection: () => undefined,
      runCommand: async () => ({ ok: true, exitCode: 0, stderr: '', durationMs: 1 }),
    });
    manager.carryOut([off], false);
    await manager.idle();
    manager.observe(state([host('kvm1'), host('kvm2')], []));
    manager.observe(state([host('kvm1'), host('kvm2', { up: false })], []));
    await journal.read();
    appendFileSync(join(dir, 'journal.jsonl'), '{"type":"power","atMs":5,"host":"kvm2","action":"reboot","event":"done"}\n');
    const warnings: string[] = [];
    const entries = await readJournal(join(dir, 'journal.jsonl'), { warn: (m) => warnings.push(m) });
    expect(entries.map((e) => (e.type === 'power' ? `${e.host} ${e.action} ${e.event}` : e.type))).toEqual([
      'kvm2 power-off requested',
      'kvm2 power-off ran',
      'kvm2 power-off done',
    ]);
    expect(warnings).toHaveLength(1);
    t.manager.restore(entries);
    expect(t.manager.states.of('kvm2').state).toBe('standby');
    journal.close();
  });
});
