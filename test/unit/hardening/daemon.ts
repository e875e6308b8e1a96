/** A `virt-balancer run` process for the signal and state-directory tests: spawned through bin/ as systemd runs it, its JSON log lines collected. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../../..');

export interface Daemon {
  proc: ChildProcess;
  /** Every JSON record logged so far. */
  records: Record<string, unknown>[];
  /** Everything written to stderr. */
  stderr(): string;
  /** Resolves with the first record (from `from` on) matching, or rejects after timeoutMs naming what was logged. */
  waitFor(match: (r: Record<string, unknown>) => boolean, timeoutMs: number, from?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit status (or 128 + signal number when killed). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDaemon(args: string[]): Daemon {
  const proc = spawn(process.execPath, [join(root, 'bin/virt-balancer.js'), 'run', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const records: Record<string, unknown>[] = [];
  let stdoutRest = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  proc.stdout!.on('data', (d: Buffer) => {
    stdoutRest += d.toString();
    const lines = stdoutRest.split('\n');
    stdoutRest = lines.pop()!;
    for (const line of lines) {
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        records.push({ raw: line });
      }
    }
    for (const w of waiters) w();
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    records,
    stderr: () => stderr,
    exited,
    waitFor(match, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = records.slice(from).find(match);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`not logged within ${timeoutMs} ms; logged: ${records.map((r) => r.msg ?? r.raw).join(' | ')}; stderr: ${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() =>
          setTimeout(() => {
            if (!waiters.has(check)) return;
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`the daemon exited; logged: ${records.map((r) => r.msg ?? r.raw).join(' | ')}; stderr: ${stderr}`));
          }, 100),
        );
        check();
      });
    },
  };
}
