/**
 * The CLI's only writers to the terminal: everything a command prints goes through `out` or `err`,
 * which escape control characters (src/log/printable.ts), so a VM or host name from libvirt, or
 * any other string from outside, cannot drive the operator's terminal. JSON goes through
 * `outJson` (valid JSON, the same escapes as \uXXXX).
 */
import { printable, printableJson } from '../log/printable.js';

/** Write `text` to stdout, control characters escaped (newlines and tabs kept). */
export function out(text: string): void {
  process.stdout.write(printable(text));
}

/** Write `text` to stderr, control characters escaped (newlines and tabs kept). */
export function err(text: string): void {
  process.stderr.write(printable(text));
}

/** Write `value` as indented JSON and a newline to stdout. */
export function outJson(value: unknown): void {
  process.stdout.write(`${printableJson(value, 2)}\n`);
}
