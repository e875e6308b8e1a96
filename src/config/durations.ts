/**
 * Durations in the config, bounded by what Node's timers hold: setTimeout takes at most
 * 2^31 - 1 ms (about 24.8 days) and fires after 1 ms for anything larger, so an unbounded
 * `callTimeoutSeconds: 3000000` would time every libvirt call out at once.
 */
import { z } from 'zod';

/** Longest delay a Node timer holds, ms (setTimeout's limit, a signed 32-bit int). */
export const TIMER_MAX_MS = 2 ** 31 - 1;
/** The same limit in whole seconds. */
export const TIMER_MAX_SECONDS = Math.floor(TIMER_MAX_MS / 1000);

const limitText = 'about 24.8 days, the longest a Node timer holds';

/** A duration in seconds, finite and at most TIMER_MAX_SECONDS. */
export function seconds() {
  return z.number().max(TIMER_MAX_SECONDS, `at most ${TIMER_MAX_SECONDS} s (${limitText})`);
}

/** A duration in milliseconds, finite and at most TIMER_MAX_MS. */
export function milliseconds() {
  return z.number().max(TIMER_MAX_MS, `at most ${TIMER_MAX_MS} ms (${limitText})`);
}
