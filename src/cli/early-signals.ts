/**
 * Signals that reach `run` before its own handlers exist. Loading the CLI's modules takes seconds
 * on a busy machine (more through tsx), and until a handler is installed Node applies the
 * defaults: SIGHUP ends the process with status 129 and no word (systemd's ExecReload in that
 * window looked like a clean stop, so Restart=on-failure did not restart it), SIGUSR1 opens a
 * debugger on 127.0.0.1:9229. main.ts imports only this module before the rest, and for `run`
 * catches these signals at once; `run` takes them over (takeEarlySignals) and handles each as if
 * it had come then. Other commands keep Node's defaults (a terminal hang-up ends `status`).
 */

/** The signals `run` handles; each would otherwise end the process or open a debugger. */
export const DAEMON_SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'] as const;
export type DaemonSignal = (typeof DAEMON_SIGNALS)[number];

/**
 * Shared through a global symbol with bin/virt-balancer.js, which catches the same signals before
 * it loads tsx (plain JavaScript, nothing to import), so no moment of the start is uncovered.
 */
const EARLY = Symbol.for('virt-balancer.early-signals');
type Early = { received: DaemonSignal[]; handlers: Map<DaemonSignal, () => void> };
const early: Early = ((globalThis as Record<symbol, unknown>)[EARLY] as Early | undefined) ?? { received: [], handlers: new Map() };
(globalThis as Record<symbol, unknown>)[EARLY] = early;
const { received, handlers } = early;

/** The command `argv` runs: its first argument that is not an option. */
export function commandOf(argv: readonly string[]): string | undefined {
  return argv.slice(2).find((a) => !a.startsWith('-'));
}

/** For `run`, catch the daemon's signals now, remembering them in order. */
export function catchEarlySignals(argv: readonly string[]): void {
  if (commandOf(argv) !== 'run' || handlers.size > 0) return;
  for (const signal of DAEMON_SIGNALS) {
    const handler = () => void received.push(signal);
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
}

/** Stop catching (the caller has its own handlers installed) and return what came, in order. */
export function takeEarlySignals(): DaemonSignal[] {
  for (const [signal, handler] of handlers) process.off(signal, handler);
  handlers.clear();
  return received.splice(0);
}
