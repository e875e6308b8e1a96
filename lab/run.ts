/** Small helpers to run the lab's external commands with errors that say what failed. */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RunResult {
  stdout: string;
  stderr: string;
}

export async function run(command: string, args: string[], options: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  if (options.input !== undefined) return runWithInput(command, args, options.input, options.timeoutMs);
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      env: options.env ?? process.env,
    });
    return { stdout, stderr };
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string; code?: unknown };
    throw new Error(`command failed: ${command} ${args.join(' ')}\n${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

function runWithInput(command: string, args: string[], input: string, timeoutMs = 120_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`command failed (exit ${code}): ${command} ${args.join(' ')}\n${stderr.trim()}`));
    });
    child.stdin.end(input);
  });
}

/** virsh against one lab host. */
export function virsh(uri: string, args: string[], timeoutMs = 120_000): Promise<RunResult> {
  return run('virsh', ['-q', '-c', uri, ...args], { timeoutMs });
}

export { setTimeout as sleep } from 'node:timers/promises';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
