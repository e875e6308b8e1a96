/**
 * Issue 27 R4, R12, R17: the state directory.
 * - R4: its lock cannot be bypassed by deleting run.lock or by killing whatever helper process
 *   there is (the lock is held on a descriptor the holder itself owns); a SIGHUP changing
 *   stateDir is refused (daemon-signals.test.ts).
 * - R12: a group/world-writable, foreign-owned or symlinked state directory (or a writable
 *   non-sticky parent) is refused, naming it and the fix.
 * - R17: `run` with an unusable stateDir (under /proc) exits 1 at once naming stateDir and the
 *   reason, with or without --dry-run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkStateDir, StateDirError, untrustedProblem } from '../../../src/ha/state-dir.js';
import { lockStateDir, StateDirLockedError } from '../../../src/ha/state-lock.js';
import { runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vb-statedir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const moduleUrl = new URL('../../../src/ha/state-lock.ts', import.meta.url).href;

/** A process holding `stateDir`'s lock until killed. */
async function holder(stateDir: string) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(moduleUrl)}); await m.lockStateDir(${JSON.stringify(stateDir)}); console.log('held'); setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => String(d).includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return child;
}

/** Every descendant of `pid` (children, their children...). */
function descendants(pid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const pairs = out
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of pairs)
      if (parent === p) {
        found.push(child);
        walk(child);
      }
  };
  walk(pid);
  return found;
}

const refused = (stateDir: string) =>
  lockStateDir(stateDir).then(
    async (lock) => {
      await lock.release();
      return undefined;
    },
    (e: unknown) => e,
  );

describe('the state-directory lock cannot be bypassed (R4)', () => {
  it('deleting run.lock does not free it', async () => {
    const stateDir = join(dir, 'deleted');
    const child = await holder(stateDir);
    try {
      rmSync(join(stateDir, 'run.lock'));
      expect(await refused(stateDir)).toBeInstanceOf(StateDirLockedError);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it("killing every process the holder started (a flock helper's) does not free it; killing the holder does", async () => {
    const stateDir = join(dir, 'helpers');
    const child = await holder(stateDir);
    try {
      for (const pid of descendants(child.pid!)) process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      expect(await refused(stateDir)).toBeInstanceOf(StateDirLockedError);
    } finally {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    const lock = await lockStateDir(stateDir);
    await lock.release();
  }, 30_000);
});

describe('the state directory is trusted like a policy file (R12)', () => {
  const cases: [string, () => string, RegExp][] = [
    [
      'world-writable',
      () => {
        const d = join(dir, 'world');
        mkdirSync(d, { mode: 0o700 });
        chmodSync(d, 0o777);
        return d;
      },
      /is writable by group and others \(mode 0777\).*chmod go-w/,
    ],
    [
      'group-writable',
      () => {
        const d = join(dir, 'group');
        mkdirSync(d);
        chmodSync(d, 0o770);
        return d;
      },
      /is writable by group \(mode 0770\)/,
    ],
    [
      'a symbolic link',
      () => {
        const real = join(dir, 'real');
        mkdirSync(real, { mode: 0o700 });
        const link = join(dir, 'link');
        symlinkSync(real, link);
        return link;
      },
      /is a symbolic link; symbolic links are not followed/,
    ],
    [
      'under a world-writable, non-sticky directory',
      () => {
        const open = join(dir, 'open');
        mkdirSync(open);
        chmodSync(open, 0o777);
        return join(open, 'state');
      },
      /open is writable by group and others \(mode 0777\)/,
    ],
  ];
  for (const [what, make, reason] of cases) {
    it(`${what}: refused, naming stateDir and the fix, before the lock is taken or anything written`, async () => {
      const stateDir = make();
      const error = await refused(stateDir);
      expect(error).toBeInstanceOf(StateDirError);
      expect((error as Error).message).toMatch(new RegExp(`^stateDir ${stateDir} cannot be used: `));
      expect((error as Error).message).toMatch(reason);
    });
  }

  it('owned by another user: refused naming the owner and the fix (the check itself: chown needs root)', () => {
    const uid = process.getuid?.() ?? 0;
    expect(untrustedProblem('/srv/state', { uid: uid + 1000, mode: 0o40700 }, true)).toBe(
      `/srv/state is owned by uid ${uid + 1000}, not root or the user virt-balancer runs as (uid ${uid}): its owner could change the journal the daemon plans from; chown ${uid === 0 ? 'root' : uid} /srv/state, or choose another stateDir`,
    );
    expect(untrustedProblem('/srv/state', { uid: 0, mode: 0o40700 }, true)).toBeUndefined();
    // Above stateDir a sticky, world-writable directory (/tmp) is fine; stateDir itself never.
    expect(untrustedProblem('/tmp', { uid: 0, mode: 0o41777 }, false)).toBeUndefined();
    expect(untrustedProblem('/tmp', { uid: 0, mode: 0o41777 }, true)).toMatch(/writable by group and others/);
  });

  it('a fresh directory under a sticky /tmp-like parent is created 0700 and accepted; a file is not a directory', async () => {
    const sticky = join(dir, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    await expect(checkStateDir(join(sticky, 'a', 'b'), { create: true })).resolves.toBeUndefined();
    const file = join(dir, 'file');
    writeFileSync(file, '');
    await expect(checkStateDir(file, { create: true })).rejects.toThrow(/is not a directory/);
  });
});

describe('the commands besides run that write or plan from the state directory check it too', () => {
  it('approve with a world-writable stateDir: exit 1 naming stateDir before reading or writing it', async () => {
    const stateDir = join(dir, 'approve-world');
    mkdirSync(stateDir);
    chmodSync(stateDir, 0o777);
    const config = join(dir, 'approve.yaml');
    writeFileSync(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.53.250:1/system" }\nstateDir: ${stateDir}\n`);
    const result = await runCli(['approve', '--all', '-c', config]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(
      new RegExp(`^virt-balancer: stateDir ${stateDir} cannot be used: ${stateDir} is writable by group and others \\(mode 0777\\)`),
    );
  }, 60_000);
});

describe('run with an unusable stateDir (R17)', () => {
  for (const [stateDir, reason] of [
    [
      '/proc/vb-state',
      /^virt-balancer: cannot start: stateDir \/proc\/vb-state cannot be used: \/proc\/vb-state could not be created: .*; create it .* or choose another stateDir$/,
    ],
    ['/proc/1', /^virt-balancer: cannot start: stateDir \/proc\/1 cannot be used: it is on procfs, a virtual filesystem/],
  ] as const) {
    for (const dryRun of [false, true]) {
      it(`${stateDir}${dryRun ? ' with --dry-run' : ''}: exits 1 at once naming stateDir and the reason`, async () => {
        const config = join(dir, `config-${stateDir.replaceAll('/', '_')}-${dryRun}.yaml`);
        writeFileSync(config, `hosts:\n  - { name: kvm1, uri: "qemu+tcp://127.0.53.250:1/system" }\nstateDir: ${stateDir}\nmetrics: { listen: "" }\n`);
        const started = Date.now();
        const result = await runCli(['run', '-c', config, ...(dryRun ? ['--dry-run'] : [])]);
        expect(result.code).toBe(1);
        expect(result.stderr.trim()).toMatch(reason);
        // Start-up never reached a host (a refused port answers at once; the point is no spin).
        expect(Date.now() - started).toBeLessThan(30_000);
      }, 60_000);
    }
  }
});
