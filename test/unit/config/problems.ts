/** Shared by the config tests: what parseConfig finds wrong with a raw config, and the smallest valid host list. */
import { ConfigError, parseConfig } from '../../../src/config/index.js';

/** The problems parseConfig reports for `raw` (path and message each), or [] when it is accepted. */
export function problemsOf(raw: unknown): { path: string; message: string }[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

export const oneHost = { hosts: [{ name: 'kvm1', uri: 'qemu+tcp://10.0.0.11/system' }] };
