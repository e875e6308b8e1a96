/**
 * The state directory (`stateDir`: journal, recommendations, run.lock) is trusted like a policy
 * file: whoever can write it can forge the journal the daemon plans from, or plant a symbolic
 * link where the daemon writes as root. So, before anything uses it:
 * - it and every directory above it is owned by root or the user we run as, and not writable by
 *   group or others (a sticky directory such as /tmp excepted above it: others cannot rename
 *   what is ours there);
 * - it is not a symbolic link (no symlink is followed to it; above it, a root-owned link such as
 *   /var/run -> /run is the system's);
 * - it is on a real filesystem (not /proc or /sys, where mkdir and writes fail in odd ways), and
 *   we can write it.
 * Missing directories are created one by one, mode 0700 (never Node's recursive mkdir, which
 * spins for ever on some /proc paths).
 */
import { constants } from 'node:fs';
import { access, lstat, mkdir, stat, statfs } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';

/** stateDir cannot be used: the message names it, the reason and the fix. */
export class StateDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateDirError';
  }
}

/** statfs(2) f_type of filesystems no state can live on (linux/magic.h). */
const VIRTUAL_FILESYSTEMS: Record<number, string> = {
  40864: 'procfs',
  1650812274: 'sysfs',
  1684170528: 'debugfs',
  1953653091: 'tracefs',
  1935894131: 'securityfs',
  1667723888: 'cgroup2',
  2613483: 'cgroup',
  7377: 'devpts',
  1853056627: 'nsfs',
  3405662737: 'bpf',
};

const modeText = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Why a directory on the way to (or being) stateDir cannot be trusted, or undefined: owned by
 * someone but root or us, or writable by group/others (a sticky parent excepted). Pure (tests).
 */
export function untrustedProblem(path: string, st: { uid: number; mode: number }, isStateDir: boolean): string | undefined {
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid)
    return `${path} is owned by uid ${st.uid}, not root or the user virt-balancer runs as (uid ${uid}): its owner could change the journal the daemon plans from; chown ${uid === 0 ? 'root' : uid} ${path}, or choose another stateDir`;
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && (isStateDir || !sticky)) {
    const who = [st.mode & 0o020 ? 'group' : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    return `${path} is writable by ${who} (mode ${modeText(st.mode)}): they could forge the journal or plant a symbolic link where the daemon writes; chmod go-w ${path}`;
  }
  return undefined;
}

/**
 * Check (and with `create`, make) the state directory.
 * @param stateDir absolute path (config resolves a relative one against the config file).
 * @param options.create create it (and missing parents, 0700) when absent; without it a missing
 *   directory is accepted (a reader finds nothing in it).
 * @throws StateDirError naming stateDir, the path at fault, the reason and the fix.
 */
export async function checkStateDir(stateDir: string, options: { create: boolean }): Promise<void> {
  const fail = (why: string): never => {
    throw new StateDirError(`stateDir ${stateDir} cannot be used: ${why}`);
  };
  if (!isAbsolute(stateDir)) fail('it is not an absolute path');
  const target = resolve(stateDir);
  // The directories from / down to stateDir.
  const chain: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const [i, path] of chain.entries()) {
    const isStateDir = i === chain.length - 1;
    let st;
    try {
      st = await lstat(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') fail(`${path}: ${(e as Error).message}`);
      if (!options.create) return;
      try {
        await mkdir(path, { mode: 0o700 });
        st = await lstat(path);
      } catch (error) {
        fail(
          `${path} could not be created: ${(error as Error).message}; create it (owned by the user virt-balancer runs as, mode 0700) or choose another stateDir`,
        );
      }
    }
    if (st!.isSymbolicLink()) {
      if (isStateDir || st!.uid !== 0) fail(`${path} is a symbolic link; symbolic links are not followed here: give the real directory as stateDir`);
      st = await stat(path).catch((e: Error) => fail(`${path}: ${e.message}`));
    }
    if (!st!.isDirectory()) fail(`${path} is not a directory`);
    const problem = untrustedProblem(path, st!, isStateDir);
    if (problem) fail(problem);
  }
  try {
    const fs = await statfs(target);
    const kind = VIRTUAL_FILESYSTEMS[Number(fs.type)];
    if (kind) fail(`it is on ${kind}, a virtual filesystem that holds no files of ours; choose a directory on a disk (e.g. /var/lib/virt-balancer)`);
  } catch (e) {
    if (e instanceof StateDirError) throw e;
    if (options.create) fail((e as Error).message);
  }
  if (options.create) {
    try {
      await access(target, constants.W_OK | constants.X_OK);
    } catch {
      fail(`the user virt-balancer runs as (uid ${process.getuid?.() ?? '?'}) cannot write it; run as its owner or choose another stateDir`);
    }
  }
}
