/** A `virt-balancer run` child process and its JSON log lines (HA lab test and takeover measurement). */
import { spawn, type ChildProcess } from 'node:child_process';
import { sleep } from './run.js';

export class RunProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  private rest = '';
  constructor(
    readonly name: string,
    readonly configFile: string,
    readonly journalFile: string,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', configFile, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      const text = this.rest + String(d);
      const parts = text.split('\n');
      this.rest = parts.pop()!;
      for (const p of parts) {
        try {
          this.lines.push(JSON.parse(p) as Record<string, unknown>);
        } catch {
          this.lines.push({ msg: p, time: Date.now() });
        }
      }
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }
  logged(msg: string, after = 0): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === msg && (l.time as number) >= after);
  }
  tail(n = 25): string {
    return `${this.name}:\n${this.lines
      .slice(-n)
      .map((l) => JSON.stringify(l))
      .join('\n')}`;
  }
  async waitFor(msg: string, timeoutMs: number, after = 0): Promise<Record<string, unknown>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logged(msg, after)[0];
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for "${msg}" from ${this.tail()}`);
      await sleep(200);
    }
  }
  exited(): Promise<number | null> {
    const c = this.child;
    return new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code))));
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    await this.exited();
  }
}
