/**
 * The daemon's signal handling through every phase (starting, running, stopping): installed before
 * the config is read, logging each signal (to the logger once there is one; what came before it is
 * logged when it exists). Node's defaults would end the process silently (SIGHUP: rc 129, which
 * systemd's Restart=on-failure takes for a clean stop; SIGUSR2) or open a debugger on
 * 127.0.0.1:9229 (SIGUSR1). Until start-up ends, SIGHUP is queued and SIGTERM/SIGINT stop the
 * daemon once it can stop cleanly (a second one stops it at once).
 */
import type { Logger } from '../log/logger.js';

export type Phase = 'starting' | 'running' | 'stopping';

/**
 * The daemon's signal handling through every phase: installed before the config is read, logging
 * each signal (to the logger once there is one; what came before it is logged when it exists).
 */
export class DaemonSignals {
  phase: Phase = 'starting';
  /** run --once: no reload to queue. */
  once = false;
  private logger?: Logger;
  /** A SIGHUP arrived during start-up: reload once running. */
  hupPending = false;
  /** SIGTERM/SIGINT arrived during start-up: stop once start-up can end cleanly. */
  stopPending?: string;
  /** SIGHUP while running. */
  onReload?: () => void;
  /** SIGTERM/SIGINT while running. */
  onStop?: (signal: string) => void;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private readonly early: { signal: string; phase: Phase; message: string }[] = [];

  /**
   * @param once run --once (no reload to queue).
   * @param takeEarly stops catching the signals that came before these handlers (cli/early-signals.ts) and returns them, in order.
   */
  constructor(once: boolean, takeEarly: () => readonly string[] = () => []) {
    this.once = once;
    const on = (signal: NodeJS.Signals, handler: () => void) => {
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    };
    on('SIGHUP', () => {
      if (this.phase === 'running' && this.onReload) return this.onReload();
      if (this.once) return this.note('SIGHUP', 'SIGHUP during run --once: ignored (it reads the config once)');
      if (this.phase === 'starting') {
        this.hupPending = true;
        this.note('SIGHUP', 'SIGHUP during start-up: the config will be reloaded once start-up ends');
      } else this.note('SIGHUP', 'SIGHUP while stopping: ignored');
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      on(signal, () => {
        if (this.phase === 'running' && this.onStop) return this.onStop(signal);
        if (this.phase === 'starting' && this.stopPending === undefined) {
          this.stopPending = signal;
          this.note(signal, `${signal} during start-up: stopping as soon as start-up can end cleanly (send it again to stop at once)`);
          return;
        }
        if (this.phase === 'starting') {
          this.note(signal, `${signal} again during start-up: stopping at once`);
          // Before the config is read there is no logger; stderr reaches the journal all the same.
          if (!this.logger) process.stderr.write(`virt-balancer: ${signal} again during start-up: stopping at once\n`);
          process.exit(1);
        }
        this.note(signal, `${signal} while stopping: already stopping`);
      });
    }
    for (const signal of ['SIGUSR1', 'SIGUSR2', 'SIGALRM'] as const) on(signal, () => this.note(signal, `${signal} has no meaning to virt-balancer: ignored`));
    // Those that came while the CLI was loading, handled as if they came now (early-signals.ts).
    for (const signal of takeEarly()) this.handlers.get(signal as NodeJS.Signals)?.();
  }

  private note(signal: string, message: string): void {
    if (this.logger) this.logger.warn({ signal, phase: this.phase }, message);
    else this.early.push({ signal, phase: this.phase, message });
  }

  /** The logger exists: log the signals that came before it. */
  setLogger(logger: Logger): void {
    this.logger = logger;
    for (const e of this.early.splice(0)) logger.warn({ signal: e.signal, phase: e.phase }, e.message);
  }

  detach(): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.clear();
  }
}
