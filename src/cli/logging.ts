/**
 * One `--log-level` for every command that logs. Interactive commands write warnings and errors
 * as one readable line each on stderr (stdout stays the command's output); `run` logs JSON for
 * journald (pretty on a terminal) at `log.level` unless `--log-level` is given.
 */
import { Option } from 'commander';
import { createLogger, LOG_LEVELS, type Logger } from '../log/logger.js';

/** `--log-level`, checked against pino's levels; `defaultLevel` undefined leaves it to the config (`run`). */
export function logLevelOption(defaultLevel: (typeof LOG_LEVELS)[number] | null = 'warn'): Option {
  const option = new Option(
    '--log-level <level>',
    defaultLevel ? 'least severe log record written to stderr, one line each' : 'least severe log record written (overrides log.level)',
  ).choices(LOG_LEVELS);
  return defaultLevel ? option.default(defaultLevel) : option;
}

/** The logger of an interactive command: `virt-balancer: warning: ...` lines on stderr, each once. */
export function commandLogger(level: string): Logger {
  return createLogger({ level: level as (typeof LOG_LEVELS)[number], format: 'line', destination: 2 });
}
