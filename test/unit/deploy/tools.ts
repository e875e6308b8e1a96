/**
 * Running the real deploy tools from tests. CI (.ci/run) installs systemd and prometheus, so a
 * missing tool is a failure that says what to install, never a skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..', '..');

const PACKAGE_OF: Record<string, string> = { 'systemd-analyze': 'systemd', 'systemd-sysusers': 'systemd', promtool: 'prometheus' };

export function tool(name: string): string {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`${name} is not installed: apt-get install -y ${PACKAGE_OF[name] ?? name} (.ci/run installs it)`);
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Ran {
  const result = spawnSync(command, args, { cwd: options.cwd ?? repoRoot, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
