/**
 * pino logs in three shapes: JSON (the service: journald keeps the lines as they are), pretty
 * coloured lines (a person watching `run` on a terminal), and `line`: one plain sentence per
 * record on stderr for the interactive commands, so a warning reads like the command's own output.
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { printable, printableValue } from './printable.js';

export type { Logger };

/** pino's levels, least verbose last; `silent` writes nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LevelWithSilent[];

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Force JSON (true) or pretty (false); default: pretty only on a TTY. Ignored with `format`. */
  json?: boolean;
  /** `line`: one readable line per record (see `lineDestination`); overrides `json`. */
  format?: 'json' | 'pretty' | 'line';
  /** Where to write; default stdout. Commands whose stdout is data (--json) log to stderr. */
  destination?: 1 | 2;
}

const LEVEL_WORDS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };
/** Fields every record has, or that only matter to a machine reading JSON. */
const HIDDEN_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'service', 'msg', 'retryInSeconds']);

/** One pino JSON record as `virt-balancer: warning: MESSAGE (host kvm1; reason: ...)`. */
export function formatLogLine(record: Record<string, unknown>): string {
  const word = LEVEL_WORDS[record.level as number] ?? String(record.level);
  const details = Object.entries(record)
    .filter(([key, value]) => !HIDDEN_FIELDS.has(key) && value !== undefined)
    .map(([key, value]) => {
      const text =
        key === 'err' && value && typeof value === 'object'
          ? String((value as { message?: unknown }).message)
          : typeof value === 'string'
            ? value
            : JSON.stringify(value);
      return `${key}: ${text}`;
    });
  // One line whatever the values hold: a host name or libvirt error from outside cannot drive the terminal.
  return printable(`virt-balancer: ${word}: ${String(record.msg ?? '')}${details.length > 0 ? ` (${details.join('; ')})` : ''}`, { oneLine: true });
}

/**
 * A pino destination writing `formatLogLine` lines to fd 1 or 2. A line already written is not
 * written again: a host that stays unreachable is retried every few seconds with the same reason,
 * and a person needs to read it once.
 */
export function lineDestination(write: (text: string) => void): DestinationStream {
  const seen = new Set<string>();
  return {
    write(chunk: string) {
      for (const json of chunk.split('\n')) {
        if (!json) continue;
        let line: string;
        try {
          line = formatLogLine(JSON.parse(json) as Record<string, unknown>);
        } catch {
          line = json;
        }
        if (seen.has(line)) continue;
        seen.add(line);
        write(`${line}\n`);
      }
    },
  };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? 1;
  const isTty = destination === 1 ? process.stdout.isTTY : process.stderr.isTTY;
  const format = options.format ?? ((options.json ?? !isTty) ? 'json' : 'pretty');
  const level = options.level ?? 'info';
  if (format === 'line') {
    const stream = destination === 1 ? process.stdout : process.stderr;
    return pino(
      { level, base: undefined },
      lineDestination((text) => stream.write(text)),
    );
  }
  if (format === 'json') return pino({ level, base: { service: 'virt-balancer' } }, pino.destination({ fd: destination, sync: true }));
  // A person's terminal: pino-pretty prints strings as they are, so they are escaped before
  // (a VM name or libvirt error from outside cannot drive the terminal; JSON logs escape them already).
  return pino({
    level,
    base: undefined,
    formatters: { log: (object) => printableValue(object) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? printable(a, { oneLine: true }) : a)) as Parameters<typeof method>);
      },
    },
    transport: { target: 'pino-pretty', options: { destination, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
  });
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
