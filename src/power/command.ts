/**
 * Run an operator's power command (power.powerOffCommand / powerOnCommand) for one host: the
 * argv array with its placeholders replaced, through execFile (no shell: a host name or address
 * is one argument whatever it holds), bounded by a timeout, exit status and stderr kept.
 */
import { execFile } from 'node:child_process';
import type { HostConfig } from '../config/index.js';
import type { PowerConfig } from '../config/power-schema.js';
import { parseLibvirtUri } from '../libvirt/uri.js';

/** What `{name}`, `{address}` and `{uri}` stand for (config: the host's name, powerAddress or its URI's host, uri). */
export interface PowerTarget {
  name: string;
  address: string;
  uri: string;
}

/** The host's `{address}`: powerAddress, else the host part of its libvirt URI, else its name. */
export function powerTarget(host: { name: string; uri: string; powerAddress?: string }): PowerTarget {
  let address = host.powerAddress;
  if (address === undefined) {
    try {
      address = parseLibvirtUri(host.uri).host || undefined;
    } catch {
      address = undefined; // the URI's own error is reported where the host connects
    }
  }
  return { name: host.name, address: address ?? host.name, uri: host.uri };
}

/**
 * The argv with every placeholder replaced (each element stays one argument).
 * @throws Error when an argument that starts with a placeholder would start with "-": the program
 *   would read the value as an option (`ssh {address}` with `-oProxyCommand=...` runs a command).
 *   Config refuses such values (powerAddress, host names, URI hosts); this holds whatever the source.
 */
export function expandCommand(argv: readonly string[], target: PowerTarget): string[] {
  return argv.map((a, i) => {
    const expanded = a.replaceAll('{name}', target.name).replaceAll('{address}', target.address).replaceAll('{uri}', target.uri);
    if (i > 0 && expanded.startsWith('-') && !a.startsWith('-'))
      throw new Error(
        `power command argument ${i} ("${a}") would be "${expanded.slice(0, 60)}" for host ${target.name}, which starts with "-" and would be read as an option; fix the host's powerAddress or uri`,
      );
    return expanded;
  });
}

/** One argument as a POSIX shell reads it back unchanged: bare when plainly safe, else single-quoted. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command an operator would run for a recommended action (policy.automation manual / partial),
 * expanded for the host and shell-quoted: the configured powerOffCommand / powerOnCommand, or for
 * node-suspend's power-off the virsh equivalent of virNodeSuspendForDuration (`virsh nodesuspend
 * TARGET DURATION`). Undefined when no command is configured for it.
 */
export function operatorCommand(
  action: 'power-off' | 'power-on',
  host: Pick<HostConfig, 'name' | 'uri' | 'powerAddress'>,
  power: PowerConfig,
): string | undefined {
  if (action === 'power-off' && power.action === 'node-suspend')
    return ['virsh', '-c', host.uri, 'nodesuspend', power.suspend.target, String(power.suspend.durationSeconds)].map(shellQuote).join(' ');
  const argv = action === 'power-off' ? power.powerOffCommand : power.powerOnCommand;
  if (!argv) return undefined;
  try {
    return expandCommand(argv, powerTarget(host)).map(shellQuote).join(' ');
  } catch (error) {
    return `(not runnable: ${(error as Error).message})`;
  }
}

export interface CommandResult {
  ok: boolean;
  /** Exit status; null when killed by a signal (the timeout included). */
  exitCode: number | null;
  signal?: string;
  /** The end of stderr (at most 500 characters). */
  stderr: string;
  durationMs: number;
  /** One line: why it failed, for the journal and the log. */
  error?: string;
}

/** Runs one command; injected in tests. */
export type CommandRunner = (argv: readonly string[], timeoutMs: number) => Promise<CommandResult>;

/** Runs argv[0] with argv[1..] (execFile, no shell); never throws. */
export const runCommand: CommandRunner = (argv, timeoutMs) =>
  new Promise((resolve) => {
    const started = performance.now();
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, _stdout, stderr) => {
      const durationMs = performance.now() - started;
      const tail = String(stderr ?? '')
        .trim()
        .slice(-500);
      if (!error) return resolve({ ok: true, exitCode: 0, stderr: tail, durationMs });
      const e = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
      const exitCode = typeof e.code === 'number' ? e.code : null;
      const why =
        typeof e.code === 'string'
          ? `${argv[0]} could not be run (${e.code}: ${e.message})`
          : e.killed && e.signal === 'SIGKILL' && durationMs >= timeoutMs * 0.9
            ? `${argv[0]} still running after ${(timeoutMs / 1000).toFixed(0)} s (power.commandTimeoutSeconds); killed`
            : e.signal
              ? `${argv[0]} killed by ${e.signal}`
              : `${argv[0]} exited with status ${exitCode}`;
      resolve({ ok: false, exitCode, signal: e.signal ?? undefined, stderr: tail, durationMs, error: tail ? `${why}: ${tail.split('\n').at(-1)}` : why });
    });
  });
