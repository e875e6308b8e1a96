/**
 * VMs in every libvirt state on a host that must be emptied, and in a broken rule (issue 13,
 * docs/policies.md "VM states"), with the real controller against real libvirt + QEMU:
 * - maintenance on lab1 holding a running, a paused, a shut-off, a crashed (kernel panic reported by
 *   pvpanic, kept by <on_crash>preserve</on_crash>) and a pmsuspended (guest-initiated S3) VM: the
 *   running one moves live and runs on, the paused one moves live and is still paused on its target,
 *   the shut-off one moves cold; the crashed and the pmsuspended ones stay, and the tick's plan says
 *   to destroy the one (then it moves cold) and to wake the other (then it moves live). The test then
 *   does just that and the next ticks move them.
 * - an anti-affinity group of three on lab1 (running, paused, shut off): the running member stays,
 *   the paused one leaves live and the shut-off one cold, to two different hosts.
 * Every guest that moved live proves its memory intact with a heartbeat after the move.
 * Both run with the default policy.allowedTechniques (post-copy allowed): a paused VM must still move
 * by a pre-copy-family technique and without VIR_MIGRATE_POSTCOPY, which libvirt refuses for it.
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
import { isPrecopyFamily, type Plan } from '../../src/policy/plan-types.js';
import { labFromEnv, type Lab, type VmProfile } from '../../lab/lab.js';
import { sleep } from '../../lab/run.js';

const execFileAsync = promisify(execFile);
const VMS = { running: 'ms-run', paused: 'ms-pause', shutoff: 'ms-off', crashed: 'ms-crash', pmsuspended: 'ms-pm' };
const GROUP = { running: 'ms-aa-run', paused: 'ms-aa-pause', shutoff: 'ms-aa-off' };
const small = (name: string, extra: Partial<VmProfile> = {}): VmProfile => ({
  name,
  host: 'lab1',
  vcpus: 1,
  memoryMiB: 128,
  cpuBusyPercent: 5,
  dirtyMiBps: 0,
  workloadMiB: 16,
  ...extra,
});
let lab: Lab;
let lab1Uri: string;

async function virsh(uri: string, args: string[]): Promise<string> {
  return (await execFileAsync('virsh', ['-c', uri, ...args], { timeout: 30_000 })).stdout.trim();
}

/** Wait until virsh shows the domain in the state (its first word of `domstate`), or throw with what it showed. */
async function waitForState(uri: string, name: string, state: string, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  while (Date.now() < deadline) {
    shown = await virsh(uri, ['domstate', '--reason', name]).catch((e: Error) => e.message);
    if (shown.startsWith(state)) return shown;
    await sleep(500);
  }
  throw new Error(`${name}: not ${state} within ${timeoutMs} ms (virsh domstate: ${shown})`);
}

/** A controller on the lab's config, changed by `change`, that records migration results. */
async function controllerWith(change: (base: Config) => Partial<Config>): Promise<{ controller: Controller; results: MigrationResult[] }> {
  const base = await loadConfig(lab.paths.configFile);
  const config: Config = {
    ...base,
    stateDir: mkdtempSync(join(tmpdir(), 'vb-maint-states-')),
    metrics: { listen: '' },
    migration: { ...base.migration, maxConcurrent: 1 },
    ...change(base),
  };
  const results: MigrationResult[] = [];
  const controller = new Controller(config, { logger: createLogger({ level: 'silent' }), onResult: (r) => results.push(r) });
  await controller.init();
  return { controller, results };
}

/** Tick (and wait for the moves) until none of `names` is on lab1, at most `ticks` times; returns each tick's plan and a log for failures. */
async function tickUntilGone(controller: Controller, names: string[], ticks: number): Promise<{ plans: Plan[]; log: string[] }> {
  const plans: Plan[] = [];
  const log: string[] = [];
  for (let tick = 1; tick <= ticks; tick++) {
    const { plan } = await controller.tick();
    plans.push(plan);
    log.push(
      `tick ${tick}: moves ${plan.moves.map((m) => `${m.vmName}->${m.to} (${m.technique})`).join(' ') || '-'}; skipped ${plan.skipped.map((s) => `${s.vmName}: ${s.reason}`).join(' | ') || '-'}`,
    );
    await controller.executor.whenIdle();
    const left = (await lab.listVms()).filter((v) => v.host === 'lab1' && names.includes(v.name));
    if (left.length === 0) break;
    await sleep(3000);
  }
  return { plans, log };
}

describe('VMs in every libvirt state, in maintenance and in a broken rule', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    lab1Uri = lab.host('lab1').uri;
    for (const name of [...Object.values(VMS), ...Object.values(GROUP)]) await lab.destroyVm(name).catch(() => {});
  });
  afterAll(async () => {
    for (const name of [...Object.values(VMS), ...Object.values(GROUP)]) await lab.destroyVm(name).catch(() => {});
  });

  it('maintenance: running and paused move live, shut off cold; crashed and pmsuspended stay until destroyed or woken, then move cold and live', async () => {
    const started = Date.now();
    // Booted one after another: parallel TCG boots on a busy 2-core machine only slow each other down.
    await lab.createVm(small(VMS.running));
    await lab.createVm(small(VMS.paused));
    await lab.defineVm(small(VMS.shutoff));
    // Three heartbeats, so createVm has seen the first before the guest crashes or sleeps.
    await lab.createVm(small(VMS.crashed, { crashAfterBeats: 3 }));
    await lab.createVm(small(VMS.pmsuspended, { pmSuspendAfterBeats: 3 }));
    await virsh(lab1Uri, ['suspend', VMS.paused]);
    expect(await waitForState(lab1Uri, VMS.crashed, 'crashed')).toBe('crashed (panicked)');
    expect(await waitForState(lab1Uri, VMS.pmsuspended, 'pmsuspended')).toMatch(/^pmsuspended/);
    const setupMs = Date.now() - started;

    const { controller, results } = await controllerWith((base) => ({
      hosts: base.hosts.map((h) => (h.name === 'lab1' ? { ...h, maintenance: true } : h)),
      // allowedTechniques stays at its default (every technique): the lab config does not set it.
      policy: { ...base.policy, cooldownSeconds: 0, maxMovesPerTick: 5 },
    }));
    const beats = { [VMS.running]: (await lab.heartbeat(VMS.running)).seq, [VMS.paused]: (await lab.heartbeat(VMS.paused)).seq };
    let first: { plans: Plan[]; log: string[] };
    let second: { plans: Plan[]; log: string[] };
    let pmBeat = 0;
    const phases: string[] = [];
    try {
      let t = Date.now();
      first = await tickUntilGone(controller, [VMS.running, VMS.paused, VMS.shutoff], 8);
      phases.push(`first drain ${Date.now() - t} ms`);
      const context = () => `${first.log.join('\n')}\nresults: ${results.map((r) => `${r.vm} ${r.technique} ${r.outcome} ${r.error ?? ''}`).join('; ')}`;
      // The states the engine leaves to the operator stay on lab1, in their state, and every tick's plan says why and what to do.
      expect(await virsh(lab1Uri, ['domstate', VMS.crashed]), context()).toBe('crashed');
      expect(await virsh(lab1Uri, ['domstate', VMS.pmsuspended]), context()).toBe('pmsuspended');
      for (const plan of first.plans) {
        const reason = (name: string) => plan.skipped.find((s) => s.vmName === name)?.reason;
        expect(reason(VMS.crashed), context()).toMatch(
          /^host lab1 is in maintenance; crashed: .*destroy it \(virsh destroy\) so it is shut off and moves cold/,
        );
        expect(reason(VMS.pmsuspended), context()).toMatch(
          /^host lab1 is in maintenance; suspended by its guest \(pmsuspended\).*wake it \(virsh dompmwakeup\) and it moves live/,
        );
        expect(
          plan.moves.map((m) => m.vmName),
          context(),
        ).not.toContain(VMS.crashed);
      }

      // The operator does what the plan says.
      await virsh(lab1Uri, ['destroy', VMS.crashed]);
      pmBeat = (await lab.heartbeat(VMS.pmsuspended)).seq;
      await virsh(lab1Uri, ['dompmwakeup', VMS.pmsuspended]);
      expect(await waitForState(lab1Uri, VMS.pmsuspended, 'running')).toMatch(/^running \(.*wakeup\)$/);
      t = Date.now();
      second = await tickUntilGone(controller, [VMS.crashed, VMS.pmsuspended], 6);
      phases.push(`second drain ${Date.now() - t} ms`);
    } finally {
      await controller.executor.whenIdle();
      await controller.stop();
    }
    const context = `${first.log.join('\n')}\n${second.log.join('\n')}\nresults: ${results.map((r) => `${r.vm} ${r.technique} ${r.outcome} ${r.error ?? ''}`).join('; ')}`;
    const vms = await lab.listVms();
    const at = (name: string) => vms.filter((v) => v.name === name);
    for (const name of Object.values(VMS)) {
      expect(at(name), `${name}\n${context}`).toHaveLength(1);
      expect(at(name)[0].host, `${name}\n${context}`).not.toBe('lab1');
    }
    expect(at(VMS.running)[0].state, context).toBe('running');
    expect(at(VMS.paused)[0].state, context).toBe('paused');
    expect(at(VMS.shutoff)[0].state, context).toBe('shut off');
    expect(at(VMS.crashed)[0].state, context).toBe('shut off');
    expect(at(VMS.pmsuspended)[0].state, context).toBe('running');
    const by = Object.fromEntries(results.map((r) => [r.vm, r]));
    // Live moves by whatever the chooser picks from the defaults; the paused one by a pre-copy-family one, never post-copy.
    expect(by[VMS.running]?.technique, context).not.toBe('cold');
    expect(isPrecopyFamily(by[VMS.paused]!.technique), context).toBe(true);
    expect(by[VMS.paused]?.switchedToPostcopy, context).toBe(false);
    expect(by[VMS.shutoff]?.technique, context).toBe('cold');
    expect(by[VMS.crashed]?.technique, context).toBe('cold');
    expect(by[VMS.pmsuspended]?.technique, context).not.toBe('cold');
    expect(
      results.map((r) => r.outcome),
      context,
    ).toEqual(results.map(() => 'completed'));
    expect(results, context).toHaveLength(5);

    // Memory of every guest that moved live: a new heartbeat, status OK (waitForHeartbeat throws on CORRUPT or a panic).
    await virsh(lab.host(at(VMS.paused)[0].host).uri, ['resume', VMS.paused]);
    for (const [name, afterSeq] of [
      [VMS.running, beats[VMS.running]],
      [VMS.paused, beats[VMS.paused]],
      [VMS.pmsuspended, pmBeat],
    ] as const) {
      expect((await lab.waitForHeartbeat(name, { afterSeq, timeoutMs: 60_000 })).status, `${name}\n${context}`).toBe('OK');
    }
    console.log(`maintenance-states: setup ${setupMs} ms; ${phases.join('; ')}; ${context}`);
    for (const name of Object.values(VMS)) await lab.destroyVm(name);
  }, 900_000);

  it('anti-affinity on one host: the running member stays, the paused one leaves live, the shut-off one cold, to different hosts', async () => {
    await lab.createVm(small(GROUP.running));
    await lab.createVm(small(GROUP.paused));
    await lab.defineVm(small(GROUP.shutoff));
    await virsh(lab1Uri, ['suspend', GROUP.paused]);
    const beat = (await lab.heartbeat(GROUP.paused)).seq;
    const { controller, results } = await controllerWith((base) => ({
      policy: {
        ...base.policy,
        cooldownSeconds: 0,
        maxMovesPerTick: 3,
        affinityGroups: [{ name: 'ms-aa', type: 'anti-affinity', vms: Object.values(GROUP) }],
      },
    }));
    let run: { plans: Plan[]; log: string[] };
    const started = Date.now();
    try {
      run = await tickUntilGone(controller, [GROUP.paused, GROUP.shutoff], 6);
    } finally {
      await controller.executor.whenIdle();
      await controller.stop();
    }
    const context = `${run.log.join('\n')}\nresults: ${results.map((r) => `${r.vm} ${r.technique} ${r.outcome} ${r.error ?? ''}`).join('; ')}`;
    const vms = await lab.listVms();
    const at = (name: string) => vms.filter((v) => v.name === name);
    expect(
      at(GROUP.running).map((v) => [v.host, v.state]),
      context,
    ).toEqual([['lab1', 'running']]);
    expect(
      at(GROUP.paused).map((v) => v.state),
      context,
    ).toEqual(['paused']);
    expect(
      at(GROUP.shutoff).map((v) => v.state),
      context,
    ).toEqual(['shut off']);
    const hosts = [at(GROUP.paused)[0].host, at(GROUP.shutoff)[0].host];
    expect(new Set(hosts).size, context).toBe(2);
    expect(hosts, context).not.toContain('lab1');
    expect(run.plans[0].moves.map((m) => m.reason).join(' | '), context).toMatch(/anti-affinity group ms-aa: shares lab1 with ms-aa-run/);
    expect(Object.fromEntries(results.map((r) => [r.vm, r.outcome])), context).toEqual({ [GROUP.paused]: 'completed', [GROUP.shutoff]: 'completed' });
    const paused = results.find((r) => r.vm === GROUP.paused)!;
    expect([isPrecopyFamily(paused.technique), paused.switchedToPostcopy], context).toEqual([true, false]);
    expect(results.find((r) => r.vm === GROUP.shutoff)?.technique, context).toBe('cold');
    await virsh(lab.host(hosts[0]).uri, ['resume', GROUP.paused]);
    expect((await lab.waitForHeartbeat(GROUP.paused, { afterSeq: beat, timeoutMs: 60_000 })).status, context).toBe('OK');
    console.log(`maintenance-states (anti-affinity): ${Date.now() - started} ms; ${context}`);
  }, 600_000);
});
