/**
 * Running the real deploy tools from tests. CI (.ci/run) installs systemd and prometheus, so a
 * missing tool is a failure that says what to install, never a skip.
 */
import { spawn } from 'node:child_process';
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

/**
 * Run `command` and collect its output. Asynchronous on purpose: a test worker blocked in a
 * synchronous child for a minute (install.sh, promtool on a busy machine) cannot answer vitest's
 * RPC, which then fails the whole run ("Timeout calling onTaskUpdate").
 */
export function runTool(command: string, args: string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, timeout: options.timeoutMs ?? 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
