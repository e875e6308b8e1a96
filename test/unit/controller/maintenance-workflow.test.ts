/**
 * Rolling maintenance's sequencing and resume (controller/workflows/maintenance*.ts) over fake
 * steps: the order of the steps, stopping on the first failure with its code, resuming from the
 * journal at the step a killed or stopped roll was in, the choice between resuming and a new roll,
 * the status line, and the planning set keeping the last roll across a journal rotation.
 */
import { describe, expect, it } from 'vitest';
import { RequestRefused } from '../../../src/controller/errors.js';
import { chooseRoll, type RollSteps, runRoll, type StepOutcome } from '../../../src/controller/workflows/maintenance.js';
import { lastRoll, rollStatusLine } from '../../../src/controller/workflows/maintenance-roll.js';
import { runHook } from '../../../src/controller/workflows/maintenance-steps.js';
import type { JournalEntry, MaintenanceJournalEntry } from '../../../src/history/index.js';
import { planningSet } from '../../../src/history/planning-set.js';
import { createMetrics } from '../../../src/metrics/catalog.js';

const HOSTS = ['h1', 'h2', 'h3'];

/** Fake steps recording each call as `host:step`; `fail` makes one call fail with a code. */
function fakeSteps(calls: string[], fail: Record<string, StepOutcome> = {}): RollSteps {
  const step = (host: string, name: string): Promise<StepOutcome> => {
    calls.push(`${host}:${name}`);
    return Promise.resolve(fail[`${host}:${name}`] ?? { ok: true, moved: name === 'drain' || name === 'return' ? [`vm-${host}`] : undefined });
  };
  return {
    residents: async (host) => [{ name: `vm-${host}`, uuid: `u-${host}` }],
    drain: (host) => step(host, 'drain'),
    hook: (host, argv) => step(host, `hook(${argv?.join(' ') ?? 'none'})`),
    healthy: (host) => step(host, 'healthy'),
    returnVms: (host, residents) => step(host, `return(${residents.map((r) => r.name).join(',')})`),
  };
}

function recorder() {
  const entries: MaintenanceJournalEntry[] = [];
  const sent: { event: string; data: Record<string, unknown> }[] = [];
  let t = 0;
  return {
    entries,
    sent,
    reporting: {
      journal: { append: async (e: MaintenanceJournalEntry) => void entries.push(e) },
      notify: (event: string, data: Record<string, unknown>) => void sent.push({ event, data }),
      now: () => (t += 1000),
    },
  };
}

describe('rolling maintenance: sequencing', () => {
  it('rolls each host in order: drain, hook, healthy, return; journals and notifies every step; counts them', async () => {
    const calls: string[] = [];
    const rec = recorder();
    const metrics = createMetrics(undefined, { defaultMetrics: false });
    const chosen = chooseRoll([], { returnVms: true, hook: ['/bin/update', '{name}'] }, HOSTS);
    const result = await runRoll(chosen, fakeSteps(calls), { ...rec.reporting, metrics });
    expect(result).toMatchObject({ ok: true, hosts: HOSTS, finishedHosts: HOSTS, resumed: false });
    expect(calls).toEqual(HOSTS.flatMap((h) => [`${h}:drain`, `${h}:hook(/bin/update {name})`, `${h}:healthy`, `${h}:return(vm-${h})`]));
    expect(rec.entries[0]).toMatchObject({ event: 'roll-started', hosts: HOSTS, returnVms: true, hook: ['/bin/update', '{name}'] });
    expect(rec.entries.at(-1)?.event).toBe('roll-finished');
    expect(rec.entries.find((e) => e.event === 'step-started' && e.step === 'drain')?.residents).toEqual([{ name: 'vm-h1', uuid: 'u-h1' }]);
    expect(rec.entries.filter((e) => e.event === 'step-done')).toHaveLength(12);
    const stepEvents = rec.sent.filter((s) => s.event === 'maintenance.step');
    expect(stepEvents).toHaveLength(24);
    expect(stepEvents[4].data).toMatchObject({ event: 'step-started', host: 'h1', step: 'healthy', index: 1, of: 3 });
    expect(rec.sent.map((s) => s.event).filter((e) => e === 'maintenance.roll')).toHaveLength(2);
    const text = await metrics.registry.metrics();
    expect(text).toContain('virt_balancer_maintenance_steps_total{step="hook",outcome="done"} 3');
    // After the roll: no host, no step.
    expect(text).toContain('virt_balancer_maintenance_roll_host 0');
    expect(text).toContain('virt_balancer_maintenance_roll_hosts 3');
  });

  it('without returnVms there is no return step', async () => {
    const calls: string[] = [];
    await runRoll(chooseRoll([], { returnVms: false }, ['h1']), fakeSteps(calls), recorder().reporting);
    expect(calls).toEqual(['h1:drain', 'h1:hook(none)', 'h1:healthy']);
  });

  it('stops at the first failed step with its code: the next host is not touched', async () => {
    const calls: string[] = [];
    const rec = recorder();
    const fail = { 'h2:hook(none)': { ok: false, code: 'hook-failed', detail: 'the hook /bin/x exited with status 3', exitCode: 3 } as StepOutcome };
    const result = await runRoll(chooseRoll([], { returnVms: true }, HOSTS), fakeSteps(calls, fail), rec.reporting);
    expect(result.ok).toBe(false);
    expect(result.stop).toEqual({ host: 'h2', step: 'hook', code: 'hook-failed', detail: 'the hook /bin/x exited with status 3' });
    expect(result.finishedHosts).toEqual(['h1']);
    expect(calls.at(-1)).toBe('h2:hook(none)');
    expect(calls.some((c) => c.startsWith('h3'))).toBe(false);
    expect(rec.entries.slice(-2)).toMatchObject([
      { event: 'step-failed', host: 'h2', step: 'hook', code: 'hook-failed', exitCode: 3 },
      { event: 'roll-stopped', host: 'h2', step: 'hook', code: 'hook-failed' },
    ]);
    expect(rollStatusLine(rec.entries)).toMatch(/STOPPED at host 2 of 3 \(h2\), step hook: hook-failed: the hook \/bin\/x exited with status 3/);
  });
});

describe('rolling maintenance: resume from the journal', () => {
  /** A roll's journal up to a controller killed in h2's hook (h1 done, h2 drained). */
  async function killedInH2Hook(): Promise<JournalEntry[]> {
    const rec = recorder();
    const steps = fakeSteps([]);
    const chosen = chooseRoll([], { returnVms: true }, HOSTS);
    let started = 0;
    // The "kill": the journal append of h2's hook step-started is the last thing that happened.
    await runRoll(chosen, steps, {
      ...rec.reporting,
      journal: {
        append: async (e) => {
          rec.entries.push(e);
          if (e.event === 'step-started' && e.host === 'h2' && e.step === 'hook' && ++started) throw new Error('killed');
        },
      },
    }).catch(() => {});
    return rec.entries;
  }

  it('a killed roll resumes at the step it was in, with the residents recorded before its drain; finished hosts are not redone', async () => {
    const entries = await killedInH2Hook();
    expect(rollStatusLine(entries)).toMatch(/in progress: host 2 of 3 \(h2\), step hook$/);
    const calls: string[] = [];
    const rec = recorder();
    // The same command again (no --hosts, no --resume): resumed.
    const chosen = chooseRoll(entries, { returnVms: true }, HOSTS);
    expect(chosen.resumed).toBe(true);
    const result = await runRoll(chosen, { ...fakeSteps(calls), residents: async () => [] }, rec.reporting);
    expect(result).toMatchObject({ ok: true, resumed: true, finishedHosts: ['h2', 'h3'] });
    // h2's residents come from its journaled drain, not from what it runs now (nothing, drained).
    expect(calls).toEqual(['h2:hook(none)', 'h2:healthy', 'h2:return(vm-h2)', 'h3:drain', 'h3:hook(none)', 'h3:healthy', 'h3:return()']);
    expect(rec.entries.some((e) => e.event === 'roll-started')).toBe(false);
    expect(new Set([...entries, ...rec.entries].map((e) => (e as MaintenanceJournalEntry).rollId)).size).toBe(1);
    expect(rollStatusLine([...entries, ...rec.entries])).toBeUndefined();
  });

  it('the host a roll stopped at after its drain is held out of placement by a daemon (unfinishedRollHost); none before a drain began or after the roll ended', async () => {
    const { unfinishedRollHost } = await import('../../../src/controller/workflows/maintenance-roll.js');
    const entries = await killedInH2Hook();
    expect(unfinishedRollHost(entries)).toBe('h2');
    // Resumed to its end: nothing held.
    const rec = recorder();
    await runRoll(chooseRoll(entries, { returnVms: true, resume: true }, HOSTS), fakeSteps([]), rec.reporting);
    expect(unfinishedRollHost([...entries, ...rec.entries])).toBeUndefined();
    // Stopped before h1's drain began (a refusal of the drain step is after it began: held).
    expect(unfinishedRollHost([])).toBeUndefined();
  });

  it('a stopped roll resumes at its failed step with the hook as configured now', async () => {
    const rec = recorder();
    const fail = { 'h1:hook(/bin/old)': { ok: false, code: 'hook-timeout', detail: 'still ran' } as StepOutcome };
    await runRoll(chooseRoll([], { returnVms: false, hook: ['/bin/old'] }, HOSTS), fakeSteps([], fail), rec.reporting);
    const calls: string[] = [];
    const chosen = chooseRoll(rec.entries, { returnVms: false, hook: ['/bin/new'], resume: true }, HOSTS);
    await runRoll(chosen, fakeSteps(calls), recorder().reporting);
    expect(calls.slice(0, 2)).toEqual(['h1:hook(/bin/new)', 'h1:healthy']);
    expect(calls).toHaveLength(2 + 3 + 3);
  });

  it('a roll started with --hook and resumed without it runs the same hook, not none; with the config hook differing it asks which', async () => {
    const rec = recorder();
    const fail = { 'h1:hook(/bin/update)': { ok: false, code: 'hook-timeout', detail: 'interrupted' } as StepOutcome };
    await runRoll(chooseRoll([], { returnVms: false, hook: ['/bin/update'] }, HOSTS), fakeSteps([], fail), rec.reporting);
    // Resumed as status says (maintenance --resume), no --hook, no hook in the config.
    const calls: string[] = [];
    await runRoll(chooseRoll(rec.entries, { returnVms: false, resume: true }, HOSTS), fakeSteps(calls), recorder().reporting);
    expect(calls[0]).toBe('h1:hook(/bin/update)');
    expect(calls.filter((c) => c.includes('hook(none)'))).toEqual([]);
    // The config now names another hook: refused, naming both, until --hook says which.
    let refused: unknown;
    try {
      chooseRoll(rec.entries, { returnVms: false, resume: true, configHook: ['/bin/other'] }, HOSTS);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(RequestRefused);
    expect((refused as RequestRefused).code).toBe('hook-differs');
    expect((refused as RequestRefused).message).toContain('was started with the hook ["/bin/update"], and maintenance.hook is now ["/bin/other"]');
    // A new roll with no --hook takes the config's.
    expect(chooseRoll([], { returnVms: false, configHook: ['/bin/cfg'] }, HOSTS).roll.plan.hook).toEqual(['/bin/cfg']);
  });

  it('refuses another host list while a roll is unfinished, unless --fresh (which abandons it); --resume without one is refused', async () => {
    const entries = await killedInH2Hook();
    const refusal = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return error instanceof RequestRefused ? { code: error.code, message: error.message } : error;
      }
      return undefined;
    };
    expect(refusal(() => chooseRoll(entries, { hosts: ['h3', 'h1'], returnVms: true }, HOSTS))).toMatchObject({
      code: 'roll-unfinished',
      message: expect.stringMatching(/of h1, h2, h3 is unfinished \(at h2, step hook\); continue it with --resume, or .* --fresh/),
    });
    expect(refusal(() => chooseRoll([], { returnVms: true, resume: true }, HOSTS))).toMatchObject({ code: 'no-roll-to-resume' });
    expect(refusal(() => chooseRoll([], { hosts: ['h9'], returnVms: true }, HOSTS))).toMatchObject({
      code: 'unknown-host',
      message: 'unknown host "h9" in --hosts; hosts in the config: h1, h2, h3',
    });
    const fresh = chooseRoll(entries, { hosts: ['h3', 'h1'], returnVms: false, fresh: true }, HOSTS);
    expect(fresh.resumed).toBe(false);
    const rec = recorder();
    const calls: string[] = [];
    await runRoll(fresh, fakeSteps(calls), rec.reporting);
    expect(rec.entries[0]).toMatchObject({ event: 'roll-abandoned', hosts: HOSTS });
    expect(calls[0]).toBe('h3:drain');
    expect(lastRoll([...entries, ...rec.entries])?.status).toBe('finished');
    expect(lastRoll(entries)?.status).toBe('running');
  });

  it('the planning set (what a restart reads, and what a rotated journal keeps) holds the last roll whole', async () => {
    const older = await killedInH2Hook();
    const newer = await killedInH2Hook();
    const noise: JournalEntry = { type: 'rejected', atMs: 1, vm: 'v', vmUuid: 'u', from: 'a', to: 'b', reason: 'x' };
    const kept = planningSet([...older, noise, ...newer]);
    expect(kept).toEqual(newer);
    expect(lastRoll(kept)?.plan.rollId).toBe(newer[0].type === 'maintenance' ? newer[0].rollId : undefined);
  });
});

describe('rolling maintenance: the hook', () => {
  it('journals the exit status and the ends of stdout and stderr; a non-zero exit is hook-failed', async () => {
    const ok = await runHook(['sh', '-c', 'echo updated lab1; echo warn >&2'], 10_000);
    expect(ok).toMatchObject({ ok: true, exitCode: 0, stdoutTail: 'updated lab1', stderrTail: 'warn' });
    const failed = await runHook(['sh', '-c', 'echo partial; echo "dpkg lock held" >&2; exit 3'], 10_000);
    expect(failed).toMatchObject({ ok: false, code: 'hook-failed', exitCode: 3, stdoutTail: 'partial' });
    expect(failed.ok ? '' : failed.detail).toBe('the hook sh exited with status 3: dpkg lock held; fix the host or the hook, then run maintenance --resume');
    const missing = await runHook(['/nonexistent/update-host'], 10_000);
    expect(missing).toMatchObject({ ok: false, code: 'hook-failed', exitCode: null });
  });

  it('a hook reads an ended stdin: a program that reads it (a shell) ends instead of waiting for the timeout', async () => {
    expect(await runHook(['sh'], 10_000)).toMatchObject({ ok: true, exitCode: 0 });
    expect(await runHook(['cat'], 10_000)).toMatchObject({ ok: true, stdoutTail: '' });
  });

  it('a hook still running at its timeout is killed: hook-timeout', async () => {
    const slow = await runHook(['sleep', '30'], 300);
    expect(slow).toMatchObject({ ok: false, code: 'hook-timeout' });
    expect(slow.ok ? '' : slow.detail).toContain('maintenance.hookTimeoutSeconds');
  });
});

describe('a hook and what it starts', () => {
  it('at its timeout the whole process group is killed (a sleep the shell started does not run on)', async () => {
    const marker = `/tmp/vb-hook-child-${process.pid}`;
    const outcome = await runHook(['sh', '-c', `(sleep 2; touch ${marker}) & sleep 30`], 300);
    expect(outcome).toMatchObject({ ok: false, code: 'hook-timeout' });
    await new Promise((r) => setTimeout(r, 2500));
    const { existsSync } = await import('node:fs');
    expect(existsSync(marker)).toBe(false);
  });

  it('ends when the hook exits, not when a child it left in the background closes the output', async () => {
    const started = Date.now();
    const outcome = await runHook(['sh', '-c', 'sleep 20 & echo started reboot'], 15_000);
    expect(outcome).toMatchObject({ ok: true, exitCode: 0, stdoutTail: 'started reboot' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an interrupted command stops the running hook with its group (signalRunningHooks)', async () => {
    const { signalRunningHooks } = await import('../../../src/controller/workflows/maintenance-steps.js');
    const running = runHook(['sh', '-c', 'sleep 30'], 60_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(signalRunningHooks('SIGTERM')).toBe(1);
    expect(await running).toMatchObject({ ok: false, code: 'hook-failed' });
    expect(signalRunningHooks('SIGTERM')).toBe(0);
  });
});

describe('a hook left running by a controller that was killed', () => {
  it('is stopped (its whole group) before the hook runs again; a stale pid file or a reused pid is left alone', async () => {
    const { spawn } = await import('node:child_process');
    const { readFileSync, writeFileSync, existsSync } = await import('node:fs');
    const { stopLeftoverHook } = await import('../../../src/controller/workflows/maintenance-steps.js');
    const pidFile = `/tmp/vb-hook-pid-${process.pid}`;
    // What a killed controller leaves: a hook in its own group, and the pid file runHook wrote.
    const pending = runHook(['sh', '-c', 'sleep 30 & sleep 30'], 60_000, pidFile);
    await new Promise((r) => setTimeout(r, 300));
    const [pid] = readFileSync(pidFile, 'utf8').trim().split(' ');
    const alive = (p: string) => existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ');
    expect(alive(pid)).toBe(true);
    expect(await stopLeftoverHook(pidFile)).toBe(`the hook an earlier run left running (pid ${pid}) was stopped first`);
    expect(await pending).toMatchObject({ ok: false, code: 'hook-failed' });
    expect(alive(pid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    // A pid file whose process is gone, or whose pid now names another process (start time differs): nothing is signalled.
    const other = spawn('sleep', ['5'], { stdio: 'ignore' });
    writeFileSync(pidFile, `${other.pid} 1\n`);
    expect(await stopLeftoverHook(pidFile)).toBeUndefined();
    expect(alive(String(other.pid))).toBe(true);
    other.kill();
    expect(await stopLeftoverHook(pidFile)).toBeUndefined();
  });
});
