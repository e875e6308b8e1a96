/**
 * Text for a person's terminal: strings that come from outside (VM and host names from libvirt,
 * policy messages, libvirt errors, journal entries) may hold control characters, and a terminal
 * obeys them — ESC starts an escape sequence (clearing the screen, rewriting lines, setting the
 * window title), CR and backspace overwrite what was printed, and Unicode's bidirectional
 * overrides reorder it. Every human output of the CLI passes through `printable`; JSON output
 * through `printableJson`, which stays valid JSON.
 */

/** C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides/isolates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this module's job
const UNSAFE_KEEP_NEWLINES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** The same, tab and newline too (one table cell, one log line). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this module's job
const UNSAFE_ONE_LINE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeControl(ch: string): string {
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every control character written as an escape (`\x1b`, `\r`, `\u202e`): what a
 * terminal shows instead of obeying it. `oneLine` escapes newlines and tabs too (a table cell,
 * a name inside a sentence); otherwise they are kept (the output's own line breaks).
 */
export function printable(text: string, options: { oneLine?: boolean } = {}): string {
  return text.replace(options.oneLine ? UNSAFE_ONE_LINE : UNSAFE_KEEP_NEWLINES, escapeControl);
}

/** JSON.stringify, with the characters JSON leaves raw that a terminal obeys (DEL, C1, bidi) written as \uXXXX: still valid JSON, the same value. */
export function printableJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** `value` with every string in it (keys too, nested to depth 5) made `printable` on one line; other values as they are. */
export function printableValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return printable(value, { oneLine: true });
  if (depth >= 5 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => printableValue(v, depth + 1));
  if (value instanceof Error) return { message: printable(value.message, { oneLine: true }), name: value.name, stack: value.stack };
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [printable(k, { oneLine: true }), printableValue(v, depth + 1)]));
}
