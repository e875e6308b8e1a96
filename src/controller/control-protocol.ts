/**
 * The daemon's control socket: how `migrate`, `drain` and `approve` hand their request to a
 * running daemon so one executor (its history, cooldowns, metrics, webhooks) sees every move.
 * `<stateDir>/control.sock`, a Unix socket of mode 0600 in the owner-only state directory. One
 * request per connection: a line of JSON (at most CONTROL_MAX_REQUEST_BYTES), answered by lines
 * of JSON events, the last one `result`, `refused` or `error`.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { TECHNIQUES } from '../policy/index.js';
import type { RefusalCode } from './errors.js';

/** The socket's file in a state directory. */
export const controlSocketPath = (stateDir: string): string => join(stateDir, 'control.sock');

/** A request longer than this (bytes, before its newline) is refused and the connection closed. */
export const CONTROL_MAX_REQUEST_BYTES = 64 * 1024;

const name = z.string().min(1).max(256);

/** One request: the operator's intent, planned by the daemon on its own fresh state. */
export const controlRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('drain'), host: name }).strict(),
  z.object({ op: z.literal('migrate'), vm: name, to: name, technique: z.enum(['auto', ...TECHNIQUES]) }).strict(),
  z
    .object({ op: z.literal('approve'), id: name.optional(), all: z.literal(true).optional(), by: name, configFile: z.string().max(4096) })
    .strict()
    .refine((r) => (r.id === undefined) !== (r.all === undefined), { message: 'give either id or all' }),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;

/** What the daemon answers, line by line: progress, then exactly one of result / refused / error. */
export type ControlEvent =
  | { type: 'accepted'; by: 'daemon'; pid: number }
  | { type: 'progress'; kind: string; message: string; data?: unknown }
  | { type: 'result'; result: unknown }
  | { type: 'refused'; code: RefusalCode; message: string }
  | { type: 'error'; code: 'bad-request' | 'too-large' | 'busy' | 'internal'; message: string };

/**
 * Parse one request line. @returns the request, or the error to answer (naming the field and the
 * fix), never throws.
 */
export function parseControlRequest(line: string): { request: ControlRequest } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    return { error: `the request is not JSON (${(error as Error).message}); send one JSON object on one line` };
  }
  const parsed = controlRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      error: `invalid request${issue.path.length ? ` at ${issue.path.join('.')}` : ''}: ${issue.message}; ops are drain {host}, migrate {vm, to, technique}, approve {id | all, by, configFile}`,
    };
  }
  return { request: parsed.data };
}
