/**
 * pino JSON logs to stdout (journald keeps them as they are); pretty, coloured lines when stdout
 * is a terminal so a person running a command can read them.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Force JSON (true) or pretty (false); default: pretty only on a TTY. */
  json?: boolean;
  /** Where to write; default stdout. Commands whose stdout is data (--json) log to stderr. */
  destination?: 1 | 2;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 1;
  const isTty = destination === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const json = options.json ?? !isTty;
  const level = options.level ?? 'info';
  if (json) return pino({ level, base: { service: 'virt-balancer' } }, pino.destination({ fd: destination, sync: true }));
  return pino({
    level,
    base: undefined,
    transport: { target: 'pino-pretty', options: { destination, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
  });
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
