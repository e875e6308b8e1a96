/**
 * One `run` per state directory on one machine: an exclusive flock(2) on `<stateDir>/run.lock`,
 * held for the life of the process.
 *
 * Node has no flock binding and native addons (fs-ext) need an install script that npm now
 * blocks by default, so the lock is taken by util-linux's `flock(1)` in a child process that
 * keeps the locked descriptor open while it reads our stdin. When this process ends in any way
 * (exit, crash, SIGKILL) the kernel closes the pipe, the child reads EOF and exits, and the
 * kernel drops the lock with the child's descriptor: no pid file a crash could leave behind.
 * The lock file also carries the holder's pid and start time so a refused `run` can name it
 * (the content is informational; the flock is the lock).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Exit status flock(1) uses when the lock is held by someone else (`-E`). */
const HELD_EXIT = 75;

/** Who holds a state directory (from the lock file; absent fields were unreadable). */
export interface LockHolder {
  pid?: number;
  sinceMs?: number;
  host?: string;
}

/** Thrown when another process holds the state directory's lock. */
export class StateDirLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly holder: LockHolder,
  ) {
    const who = holder.pid !== undefined ? `process ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}` : 'another process (its pid could not be read)';
    const since = holder.sinceMs !== undefined ? ` since ${new Date(holder.sinceMs).toISOString()}` : '';
    super(
      `the state directory is in use: ${lockFile} is locked by ${who}${since}; only one \`run\` per state directory (stop that one, or give this one its own stateDir)`,
    );
    this.name = 'StateDirLockedError';
  }
}

/** A held lock; release() lets it go before the process ends (tests, clean shutdown). */
export interface StateDirLock {
  readonly file: string;
  release(): Promise<void>;
}

async function readHolder(file: string): Promise<LockHolder> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    return {
      pid: typeof parsed.pid === 'number' ? parsed.pid : undefined,
      sinceMs: typeof parsed.sinceMs === 'number' ? parsed.sinceMs : undefined,
      host: typeof parsed.host === 'string' ? parsed.host : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * Take the state directory's lock without waiting.
 * @throws StateDirLockedError naming the holder when another process holds it.
 * @throws Error when flock(1) (util-linux) cannot be run or the directory cannot be created.
 */
export async function lockStateDir(stateDir: string): Promise<StateDirLock> {
  await mkdir(stateDir, { recursive: true });
  const file = join(stateDir, 'run.lock');
  // -n: fail at once; -E: a status of our own for "held"; cat holds the fd until our stdin closes.
  const child: ChildProcess = spawn('flock', ['-n', '-E', String(HELD_EXIT), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const outcome = await new Promise<'locked' | { code: number | null; stderr: string } | Error>((resolve) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.once('data', () => resolve('locked'));
    child.once('error', (e) => resolve(new Error(`cannot run flock(1) to lock ${file} (install util-linux): ${e.message}`)));
    child.once('exit', (code) => resolve({ code, stderr: stderr.trim() }));
  });
  if (outcome instanceof Error) throw outcome;
  if (outcome !== 'locked') {
    if (outcome.code === HELD_EXIT) throw new StateDirLockedError(file, await readHolder(file));
    throw new Error(`cannot lock ${file}: flock exited with ${outcome.code}${outcome.stderr ? `: ${outcome.stderr}` : ''}`);
  }
  // The child must not keep our event loop alive, nor we its.
  child.unref();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  await writeFile(file, `${JSON.stringify({ pid: process.pid, sinceMs: Date.now(), host: hostname() })}\n`);
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      // Referenced again while we wait, or a process with nothing else to do exits before the
      // helper does (Node's exit code 13, an unsettled await).
      child.ref();
      const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
      child.stdin!.end();
      await exited;
    },
  };
}
