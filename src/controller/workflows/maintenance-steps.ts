/**
 * The steps of a rolling maintenance on real hosts (maintenance.ts sequences them): the drain is
 * the drain workflow (drain.ts), the return is the migrate workflow (migrate.ts) for each VM the
 * host had, the hook is the operator's program run without a shell, and the health wait observes
 * the cluster until the host answers libvirt again (the dry run is maintenance-dry-run.ts).
 */
import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandCommand, powerTarget } from '../../power/command.js';
import { RequestRefused } from '../errors.js';
import type { WorkflowContext } from './context.js';
import { runDrain } from './drain.js';
import { drainInRounds } from './drain-rounds.js';
import type { RollSteps, StepOutcome } from './maintenance.js';
import { carryOutMove, pinnedBy, planMigration } from './migrate.js';

/** The ends of a hook's output kept in the journal, characters. */
const OUTPUT_TAIL_CHARS = 500;

/** Process groups of the hooks running now (each hook leads its own group: see runHook). */
const runningHooks = new Set<number>();

/**
 * Signal every running hook's whole process group (its children too). The maintenance command
 * calls it when it is interrupted (Ctrl-C, SIGTERM): a hook left running would overlap the one
 * a resume starts on the same host. Returns how many groups were signalled.
 */
export function signalRunningHooks(signal: NodeJS.Signals = 'SIGTERM'): number {
  let n = 0;
  for (const group of runningHooks) {
    try {
      process.kill(-group, signal);
      n++;
    } catch {
      runningHooks.delete(group);
    }
  }
  return n;
}

/**
 * Until the process ends: on Ctrl-C, SIGTERM or SIGHUP, stop the running hook with what it started
 * (a resume would otherwise run a second one beside it on the same host), say so through `say`,
 * and exit 130 / 143 / 129. The journal already says where a resume continues.
 */
export function stopHooksWhenInterrupted(say: (line: string) => void): void {
  const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  for (const signal of Object.keys(codes) as (keyof typeof codes)[])
    process.once(signal, () => {
      const hooks = signalRunningHooks('SIGTERM');
      say(
        `virt-balancer maintenance: ${signal}: stopped${hooks > 0 ? ' (the hook running was stopped with what it started)' : ''}; a migration under way runs on in libvirt. Continue with: virt-balancer maintenance --resume\n`,
      );
      process.exit(codes[signal]);
    });
}

/**
 * Run a hook's argv (no shell) in a process group of its own, so that its timeout (SIGKILL) and an
 * interrupted command reach what it started too (`sh -c "...; sleep 60"` left `sleep` running).
 * Its end is its own exit, not the end of its output: a child it left in the background holding
 * stdout does not hold the roll. Never throws.
 */
export function runHook(argv: readonly string[], timeoutMs: number, pidFile?: string): Promise<StepOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const keep = (text: string, chunk: Buffer) => (text + chunk.toString()).slice(-(4 << 20));
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid !== undefined) runningHooks.add(child.pid);
    // Named in the state directory while it runs: a controller killed meanwhile (kill -9) cannot
    // stop it, and its resume stops it (stopLeftoverHook) before running the hook again.
    if (pidFile && child.pid !== undefined) {
      try {
        writeFileSync(pidFile, `${child.pid} ${processStartTime(child.pid) ?? ''}\n`, { mode: 0o600 });
      } catch {
        // Best effort: without it a resume after kill -9 cannot stop this hook, nothing worse.
      }
    }
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (c: Buffer) => (stdout = keep(stdout, c)));
    child.stderr?.on('data', (c: Buffer) => (stderr = keep(stderr, c)));
    const finish = (outcome: StepOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.pid !== undefined) runningHooks.delete(child.pid);
      if (pidFile) removeFile(pidFile);
      // A child it started in the background and left is its author's choice (a delayed reboot): left alone.
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(outcome);
    };
    const tails = () => ({ stdoutTail: stdout.trim().slice(-OUTPUT_TAIL_CHARS), stderrTail: stderr.trim().slice(-OUTPUT_TAIL_CHARS) });
    child.once('error', (e: NodeJS.ErrnoException) =>
      finish({
        ok: false,
        code: 'hook-failed',
        exitCode: null,
        ...tails(),
        detail: `the hook ${argv[0]} could not be run (${e.code}: ${e.message}); fix the host or the hook, then run maintenance --resume`,
      }),
    );
    child.once('exit', (code, signal) => {
      // Output already written is read before the verdict (the pipes drain within the turn).
      setImmediate(() => {
        const t = tails();
        if (code === 0) return finish({ ok: true, exitCode: 0, ...t, detail: `${argv[0]} exited 0` });
        const lastLine = t.stderrTail.split('\n').at(-1);
        if (timedOut && performance.now() - started >= timeoutMs * 0.9)
          return finish({
            ok: false,
            code: 'hook-timeout',
            exitCode: code,
            ...t,
            detail: `the hook ${argv[0]} still ran after ${timeoutMs / 1000} s (maintenance.hookTimeoutSeconds) and was killed with what it started; check the host, then raise the timeout or fix the hook and run maintenance --resume`,
          });
        const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        finish({
          ok: false,
          code: 'hook-failed',
          exitCode: code,
          ...t,
          detail: `the hook ${argv[0]} ${why}${lastLine ? `: ${lastLine}` : ''}; fix the host or the hook, then run maintenance --resume`,
        });
      });
    });
    // Nobody types into a hook: a program that reads stdin (a shell, a prompt) sees its end, not a wait until the timeout.
    child.stdin?.end();
  });
}

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22), or undefined when it is gone. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces and parentheses: the 3rd field on.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function removeFile(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/**
 * A hook still running from a controller that died (its pid file in the state directory names
 * it, with its start time so a reused pid is not taken for it): its process group is stopped
 * (SIGTERM, then SIGKILL after 5 s) before the hook runs again, so two never overlap on a host.
 * Returns what was done, for the step's detail, or undefined when nothing was left.
 */
export async function stopLeftoverHook(pidFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8');
  } catch {
    return undefined;
  }
  removeFile(pidFile);
  const [pidText, started] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1 || !started || processStartTime(pid) !== started) return undefined;
  signalGroup(pid, 'SIGTERM');
  for (let waited = 0; waited < 5000 && processStartTime(pid) === started; waited += 100) await new Promise((r) => setTimeout(r, 100));
  if (processStartTime(pid) === started) signalGroup(pid, 'SIGKILL');
  return `the hook an earlier run left running (pid ${pid}) was stopped first`;
}

/** Signal a process group, ignoring one already gone. */
function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // gone already
  }
}

/** What the live steps need beyond the workflow context. */
export interface LiveStepOptions {
  hookTimeoutMs: number;
  healthyTimeoutMs: number;
  /** How often the health wait observes the cluster, ms. Default 1000. */
  pollMs?: number;
  /** Reconnect to `host` from the shortest backoff (it was restarted on purpose). */
  retrySoon?(host: string): void;
  /** The hosts down on purpose now (the one whose hook runs, until it is healthy again): no warning when they drop. */
  setExpectedDown?(hosts: ReadonlySet<string>): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The roll's steps on the context's hosts and executor. */
export function liveRollSteps(ctx: WorkflowContext, options: LiveStepOptions): RollSteps {
  const hostConfig = (name: string) => ctx.config.hosts.find((h) => h.name === name)!;
  /**
   * Someone else's maintenance (the config's flag), or a host gone from the config since the roll
   * began: the roll leaves it untouched and stops.
   */
  const flaggedMaintenance = (host: string) => {
    if (!ctx.config.hosts.some((h) => h.name === host))
      return {
        ok: false as const,
        code: 'host-down' as const,
        detail: `${host} is no longer in the config; put it back and run maintenance --resume, or start a new roll without it (maintenance --fresh --hosts ...)`,
      };
    return hostConfig(host).maintenance
      ? {
          ok: false as const,
          code: 'host-in-maintenance' as const,
          detail: `${host} is flagged maintenance: true in the config (someone else's maintenance); nothing was done to it. Remove the flag when that is done, then run maintenance --resume`,
        }
      : undefined;
  };
  const steps: RollSteps = {
    async residents(host) {
      const state = await ctx.observe();
      return state.vms.filter((v) => v.host === host).map((v) => ({ name: v.name, uuid: v.uuid }));
    },

    async drain(host) {
      const flagged = flaggedMaintenance(host);
      if (flagged) return flagged;
      // Resumed after a controller died mid-drain: a migration it had started runs on in libvirt
      // (peer-to-peer); wait for it to end instead of failing the drain on the VM's job.
      let state = await ctx.observe();
      for (const deadline = Date.now() + options.healthyTimeoutMs; state.vms.some((v) => v.host === host && v.jobRunning) && Date.now() < deadline; ) {
        await sleep(options.pollMs ?? 1000);
        state = await ctx.observe();
      }
      // In rounds (drain-rounds.ts, as every drain): a VM that fits nowhere until a make-room move
      // has run (policy/make-room.ts) follows in the next round, planned on a fresh observation.
      let outcome;
      try {
        outcome = await drainInRounds(ctx, state, host, (planned) => runDrain(ctx, planned), { stopAtUnplaceable: true });
      } catch (error) {
        if (error instanceof RequestRefused && error.code === 'host-down')
          return { ok: false, code: 'host-down', detail: `${error.message}; bring it back (or leave it out with --hosts), then run maintenance --resume` };
        throw error;
      }
      const moved = outcome.results.filter((r) => r.outcome === 'completed').map((r) => r.vm);
      if (outcome.stopped === 'cannot-place')
        return {
          ok: false,
          code: 'drain-cannot-place',
          moved,
          detail: `the cluster cannot take ${host}'s VMs: ${outcome.plan.skipped.map((s) => `${s.vmName}: ${s.reason}`).join('; ')}; ${moved.length ? `moved off ${host} so far: ${moved.join(', ')}; the others stay there` : `nothing was moved off ${host}`}. Make room or relax the rule (see \`virt-balancer drain ${host} --dry-run\`), then run maintenance --resume`,
        };
      if (outcome.stopped === 'failed') {
        const failed = [
          ...outcome.results.filter((r) => r.outcome !== 'completed').map((r) => `${r.vm} -> ${r.to}: ${r.outcome}${r.error ? ` (${r.error})` : ''}`),
          ...outcome.notMoved.map((n) => `${n.vm}: ${n.code} (${n.reason})`),
        ];
        return {
          ok: false,
          code: 'drain-failed',
          moved,
          detail: `the drain of ${host} did not empty it: ${failed.join('; ')}; those VMs still run on ${host}. See \`virt-balancer history\`, then run maintenance --resume`,
        };
      }
      return { ok: true, moved };
    },

    async hook(host, argv) {
      const gone = flaggedMaintenance(host);
      if (gone) return gone;
      if (!argv) return { ok: true, detail: 'no hook configured (maintenance.hook, --hook)' };
      // The hook may reboot the host: nothing may run there now. Something else (another
      // controller, an HA standby, an operator) may have sent VMs since the drain.
      const arrived = (await ctx.observe()).vms.filter((v) => v.host === host && v.state !== 'shutoff');
      if (arrived.length > 0) {
        // Drained again first; what cannot leave now stops the roll before the hook.
        const again = await steps.drain(host);
        if (!again.ok)
          return {
            ok: false,
            code: 'host-not-empty',
            detail: `${arrived.map((v) => v.name).join(', ')} ${arrived.length > 1 ? 'run' : 'runs'} on ${host} again since its drain (another controller or an operator moved ${arrived.length > 1 ? 'them' : 'it'} there), and draining it again failed: ${again.detail}; the hook was not run. Stop whatever balances onto ${host} (every controller of this cluster, ha: standbys included), then run maintenance --resume`,
          };
      }
      // The hook restarts or reboots the host: its connection dropping is expected until it is healthy.
      options.setExpectedDown?.(new Set([host]));
      const pidFile = join(ctx.config.stateDir, 'maintenance-hook.pid');
      const stopped = await stopLeftoverHook(pidFile);
      const outcome = await runHook(expandCommand(argv, powerTarget(hostConfig(host))), options.hookTimeoutMs, pidFile);
      return stopped ? { ...outcome, detail: `${stopped}; ${outcome.detail ?? ''}` } : outcome;
    },

    async healthy(host) {
      const flagged = flaggedMaintenance(host);
      if (flagged) return flagged;
      const deadline = Date.now() + options.healthyTimeoutMs;
      let reason = 'not observed yet';
      for (;;) {
        const state = await ctx.observe();
        const h = state.hosts.find((x) => x.name === host);
        if (h?.up) {
          options.setExpectedDown?.(new Set());
          return { ok: true, detail: `${host} answers libvirt` };
        }
        reason = h?.downReason ?? reason;
        if (Date.now() >= deadline)
          return {
            ok: false,
            code: 'host-not-healthy',
            detail: `${host} did not answer libvirt within ${options.healthyTimeoutMs / 1000} s after the hook (maintenance.healthyTimeoutSeconds): ${reason}; bring it back, then run maintenance --resume`,
          };
        options.retrySoon?.(host);
        await sleep(options.pollMs ?? 1000);
      }
    },

    async returnVms(host, residents) {
      const moved: string[] = [];
      const gone: string[] = [];
      const pinned: string[] = [];
      for (const r of residents) {
        const state = await ctx.observe();
        const vm = state.vms.find((v) => v.uuid === r.uuid);
        if (!vm) {
          gone.push(r.name);
          continue;
        }
        if (vm.host === host) continue;
        // Pinned since its drain (a pin never moves a VM): it stays where it is, said in the step's detail.
        const pin = pinnedBy(vm, ctx.config);
        if (pin) {
          pinned.push(`${vm.name} stays on ${vm.host} (pinned: ${pin})`);
          continue;
        }
        let planned;
        try {
          planned = await planMigration(ctx, state, { vm: vm.name, to: host, technique: 'auto' });
        } catch (error) {
          if (!(error instanceof RequestRefused)) throw error;
          return {
            ok: false,
            code: 'return-refused',
            moved,
            detail: `${vm.name} cannot go back to ${host}: ${error.message}; it stays on ${vm.host}. Move it by hand (\`virt-balancer migrate ${vm.name} ${host}\`) or leave it, then run maintenance --resume`,
          };
        }
        const result = await carryOutMove(ctx, planned.move);
        if (result.outcome !== 'completed')
          return {
            ok: false,
            code: 'return-failed',
            moved,
            detail: `${vm.name} ${vm.host} -> ${host}: ${result.outcome}${result.error ? ` (${result.error})` : ''}; it runs on ${vm.host}. See \`virt-balancer history\`, then run maintenance --resume`,
          };
        moved.push(vm.name);
      }
      const notes = [
        ...(gone.length ? [`no longer defined anywhere, not returned: ${gone.join(', ')}`] : []),
        ...(pinned.length ? [`not returned: ${pinned.join('; ')}`] : []),
      ];
      return { ok: true, moved, ...(notes.length ? { detail: notes.join('; ') } : {}) };
    },
  };
  return steps;
}
