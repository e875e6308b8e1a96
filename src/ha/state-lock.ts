/**
 * One `run` per state directory on one machine: an exclusive flock(2) on the state directory
 * itself, held on a descriptor this process opened and keeps for its life.
 *
 * Node has no flock binding (native addons such as fs-ext need an install script, which npm now
 * blocks by default), so the flock(2) call is made by util-linux's `flock(1)` in a short-lived
 * child that is handed our descriptor as its fd 3 (`flock -n 3`). A flock belongs to the open file
 * description, which the child's fd 3 shares with ours: when the child exits, the lock stays, held
 * by our descriptor alone, until this process closes it or ends in any way (exit, crash, SIGKILL).
 * So nothing else holds it: no helper process that could be killed to drop it, no lock file that
 * could be deleted to dodge it (the directory is locked, not a file in it; a new file of the same
 * name is another inode), and stateDir is not reloadable (run.ts refuses a SIGHUP that changes it).
 * Our descriptors are close-on-exec, so commands the daemon runs do not inherit the lock.
 * `<stateDir>/run.lock` only carries the holder's command, pid and start time so a refused
 * command can name it and say what to do (stop a daemon; wait for a one-shot drain).
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { checkStateDir } from './state-dir.js';

/** Exit status flock(1) uses when the lock is held by someone else (`-E`). */
const HELD_EXIT = 75;

/** Who holds a state directory (from the lock file; absent fields were unreadable). */
export interface LockHolder {
  /** What holds it: `run` (the daemon, or `run --once`), or a one-shot command such as `drain lab1`. */
  command?: string;
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
    const proc = holder.pid !== undefined ? `process ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}` : 'another process (its pid could not be read)';
    const who = holder.command !== undefined ? `\`virt-balancer ${holder.command}\` (${proc})` : proc;
    const since = holder.sinceMs !== undefined ? ` since ${new Date(holder.sinceMs).toISOString()}` : '';
    const fix =
      holder.command === undefined || holder.command === 'run' || holder.command.startsWith('run ')
        ? 'only one `run` per state directory (stop that one, or give this one its own stateDir)'
        : 'that command moves VMs itself without a daemon: wait for it to end, then try again';
    super(`the state directory is in use: ${lockFile} is locked by ${who}${since}; ${fix}`);
    this.name = 'StateDirLockedError';
  }
}

/** A held lock; release() lets it go before the process ends (tests, clean shutdown). */
export interface StateDirLock {
  /** run.lock, the file that names the holder. */
  readonly file: string;
  /** The locked directory. */
  readonly dir: string;
  release(): Promise<void>;
}

async function readHolder(file: string): Promise<LockHolder> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    return {
      command: typeof parsed.command === 'string' ? parsed.command : undefined,
      pid: typeof parsed.pid === 'number' ? parsed.pid : undefined,
      sinceMs: typeof parsed.sinceMs === 'number' ? parsed.sinceMs : undefined,
      host: typeof parsed.host === 'string' ? parsed.host : undefined,
    };
  } catch {
    return {};
  }
}

/** flock(LOCK_EX | LOCK_NB) on `fd` through flock(1): 'locked', 'held' by another, or an Error. */
function flockFd(fd: number, what: string): Promise<'locked' | 'held' | Error> {
  return new Promise((resolve) => {
    const child = spawn('flock', ['-n', '-E', String(HELD_EXIT), '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (e) => resolve(new Error(`cannot run flock(1) to lock ${what} (install util-linux): ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0) resolve('locked');
      else if (code === HELD_EXIT) resolve('held');
      else resolve(new Error(`cannot lock ${what}: flock exited with ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
    });
  });
}

/**
 * Check the state directory (owner, mode, no symlink, a real filesystem: state-dir.ts), create
 * it if missing, and take its lock without waiting.
 * @throws StateDirError when stateDir cannot be used (names it, the reason and the fix).
 * @throws StateDirLockedError naming the holder when another process holds it.
 * @throws Error when flock(1) (util-linux) cannot be run.
 * `command` (e.g. `run`, `drain lab1`) is written to run.lock to name the holder to others.
 */
export async function lockStateDir(stateDir: string, command = 'run'): Promise<StateDirLock> {
  await checkStateDir(stateDir, { create: true });
  const file = join(stateDir, 'run.lock');
  // O_NOFOLLOW: the directory checked above, not whatever a link put in its place since.
  const fd = openSync(stateDir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  const outcome = await flockFd(fd, stateDir);
  if (outcome !== 'locked') {
    closeSync(fd);
    if (outcome === 'held') throw new StateDirLockedError(file, await readHolder(file));
    throw outcome;
  }
  // Informational; O_NOFOLLOW so a link planted as run.lock is not written through.
  const info = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    await info.writeFile(`${JSON.stringify({ command, pid: process.pid, sinceMs: Date.now(), host: hostname() })}\n`);
  } finally {
    await info.close();
  }
  let released = false;
  return {
    file,
    dir: stateDir,
    async release() {
      if (released) return;
      released = true;
      closeSync(fd);
    },
  };
}
