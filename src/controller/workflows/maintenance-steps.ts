/**
 * The steps of a rolling maintenance on real hosts (maintenance.ts sequences them): the drain is
 * the drain workflow (drain.ts), the return is the migrate workflow (migrate.ts) for each VM the
 * host had, the hook is the operator's program run without a shell, and the health wait observes
 * the cluster until the host answers libvirt again. Also the dry run: the whole sequence with the
 * cost model's predicted durations.
 */
import { execFile } from 'node:child_process';
import type { ClusterState } from '../../cluster/model.js';
import { expandCommand, powerTarget } from '../../power/command.js';
import { RequestRefused } from '../errors.js';
import type { WorkflowContext } from './context.js';
import { planDrain, runDrain } from './drain.js';
import type { RollSteps, StepOutcome } from './maintenance.js';
import { stepsOf, type RollPlan } from './maintenance-roll.js';
import { carryOutMove, planMigration } from './migrate.js';

/** The ends of a hook's output kept in the journal, characters. */
const OUTPUT_TAIL_CHARS = 500;

/** Run a hook's argv (execFile, no shell), killed with SIGKILL at `timeoutMs`. Never throws. */
export function runHook(argv: readonly string[], timeoutMs: number): Promise<StepOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      const tails = {
        stdoutTail: String(stdout ?? '')
          .trim()
          .slice(-OUTPUT_TAIL_CHARS),
        stderrTail: String(stderr ?? '')
          .trim()
          .slice(-OUTPUT_TAIL_CHARS),
      };
      if (!error) return resolve({ ok: true, exitCode: 0, ...tails, detail: `${argv[0]} exited 0` });
      const e = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
      const exitCode = typeof e.code === 'number' ? e.code : null;
      const lastLine = tails.stderrTail.split('\n').at(-1);
      if (e.killed && e.signal === 'SIGKILL' && performance.now() - started >= timeoutMs * 0.9)
        return resolve({
          ok: false,
          code: 'hook-timeout',
          exitCode,
          ...tails,
          detail: `the hook ${argv[0]} still ran after ${timeoutMs / 1000} s (maintenance.hookTimeoutSeconds) and was killed; check the host, then raise the timeout or fix the hook and run maintenance --resume`,
        });
      const why =
        typeof e.code === 'string' ? `could not be run (${e.code}: ${e.message})` : e.signal ? `was killed by ${e.signal}` : `exited with status ${exitCode}`;
      resolve({
        ok: false,
        code: 'hook-failed',
        exitCode,
        ...tails,
        detail: `the hook ${argv[0]} ${why}${lastLine ? `: ${lastLine}` : ''}; fix the host or the hook, then run maintenance --resume`,
      });
    });
    // Nobody types into a hook: a program that reads stdin (a shell, a prompt) sees its end, not a wait until the timeout.
    child.stdin?.end();
  });
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
  return {
    async residents(host) {
      const state = await ctx.observe();
      return state.vms.filter((v) => v.host === host).map((v) => ({ name: v.name, uuid: v.uuid }));
    },

    async drain(host) {
      // Resumed after a controller died mid-drain: a migration it had started runs on in libvirt
      // (peer-to-peer); wait for it to end instead of failing the drain on the VM's job.
      let state = await ctx.observe();
      for (const deadline = Date.now() + options.healthyTimeoutMs; state.vms.some((v) => v.host === host && v.jobRunning) && Date.now() < deadline; ) {
        await sleep(options.pollMs ?? 1000);
        state = await ctx.observe();
      }
      let planned;
      try {
        planned = await planDrain(ctx, state, host);
      } catch (error) {
        if (error instanceof RequestRefused && error.code === 'host-down')
          return { ok: false, code: 'host-down', detail: `${error.message}; bring it back (or leave it out with --hosts), then run maintenance --resume` };
        throw error;
      }
      const { skipped } = planned.plan;
      if (skipped.length > 0)
        return {
          ok: false,
          code: 'drain-cannot-place',
          detail: `the cluster cannot take ${host}'s VMs: ${skipped.map((s) => `${s.vmName}: ${s.reason}`).join('; ')}; nothing was moved off ${host}. Make room or relax the rule (see \`virt-balancer drain ${host} --dry-run\`), then run maintenance --resume`,
        };
      const outcome = await runDrain(ctx, planned);
      const moved = outcome.results.filter((r) => r.outcome === 'completed').map((r) => r.vm);
      if (!outcome.ok) {
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
      if (!argv) return { ok: true, detail: 'no hook configured (maintenance.hook, --hook)' };
      // The hook restarts or reboots the host: its connection dropping is expected until it is healthy.
      options.setExpectedDown?.(new Set([host]));
      return runHook(expandCommand(argv, powerTarget(hostConfig(host))), options.hookTimeoutMs);
    },

    async healthy(host) {
      if (hostConfig(host).maintenance)
        return {
          ok: false,
          code: 'host-in-maintenance',
          detail: `${host} is flagged maintenance: true in the config (someone else's maintenance); remove the flag when it is done, then run maintenance --resume`,
        };
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
      for (const r of residents) {
        const state = await ctx.observe();
        const vm = state.vms.find((v) => v.uuid === r.uuid);
        if (!vm) {
          gone.push(r.name);
          continue;
        }
        if (vm.host === host) continue;
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
      return { ok: true, moved, ...(gone.length ? { detail: `no longer defined anywhere, not returned: ${gone.join(', ')}` } : {}) };
    },
  };
}

/** One host's part of a dry run: its drain's moves with the cost model's predictions, or why it would stop. */
export interface DryRunHost {
  host: string;
  steps: string[];
  moves: { vm: string; to: string; technique: string; predictedSeconds: number; predictedDowntimeMs: number }[];
  /** VMs the drain cannot place: the roll would stop here (drain-cannot-place). */
  skipped: { vm: string; reason: string }[];
  /** Why this host cannot be drained now (host-down...). */
  refused?: string;
  /** Sum of the moves' predicted durations, s: the drain's length if they ran one at a time. */
  predictedDrainSeconds: number;
}

/**
 * The roll's remaining hosts, each drain planned on `state` as observed now (each host's own
 * drain plan; without --return an earlier host's VMs would be elsewhere by then, so later
 * placements may differ). Moves nothing.
 */
export async function dryRunRoll(ctx: WorkflowContext, state: ClusterState, plan: RollPlan, fromIndex: number): Promise<DryRunHost[]> {
  const hosts: DryRunHost[] = [];
  for (const host of plan.hosts.slice(fromIndex)) {
    const entry: DryRunHost = { host, steps: stepsOf(plan), moves: [], skipped: [], predictedDrainSeconds: 0 };
    try {
      const planned = await planDrain(ctx, state, host);
      entry.moves = planned.plan.moves.map((m) => ({
        vm: m.vmName,
        to: m.to,
        technique: m.technique,
        predictedSeconds: m.predicted.totalSeconds,
        predictedDowntimeMs: m.predicted.downtimeMs,
      }));
      entry.skipped = planned.plan.skipped.map((s) => ({ vm: s.vmName, reason: s.reason }));
      entry.predictedDrainSeconds = entry.moves.reduce((sum, m) => sum + m.predictedSeconds, 0);
    } catch (error) {
      if (!(error instanceof RequestRefused)) throw error;
      entry.refused = `${error.code}: ${error.message}`;
    }
    hosts.push(entry);
  }
  return hosts;
}
