/**
 * The state-directory lock between two real processes: a child holds it, this process is refused
 * with the child's pid named; the child is SIGKILLed and the lock is free at once (the kernel
 * drops the flock with the holder's descriptors; nothing is left to clean up).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockStateDir, StateDirLockedError } from '../../../src/ha/state-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'vb-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const moduleUrl = new URL('../../../src/ha/state-lock.ts', import.meta.url).href;

describe('state directory lock', () => {
  it('refuses a second holder naming the first (pid, since), and is free once the holder is SIGKILLed', async () => {
    const stateDir = join(dir, 'state');
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
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => String(d).includes('held') && resolve());
        child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
      });
      const beforeMs = Date.now();
      const refusal = await lockStateDir(stateDir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refusal).toBeInstanceOf(StateDirLockedError);
      const locked = refusal as StateDirLockedError;
      expect(locked.holder.pid).toBe(child.pid);
      expect(locked.holder.sinceMs).toBeLessThanOrEqual(beforeMs);
      expect(locked.message).toContain(`locked by \`virt-balancer run\` (process ${child.pid}`);
      expect(locked.holder.command).toBe('run');
      expect(locked.message).toContain(join(stateDir, 'run.lock'));
    } finally {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
    // The kernel closes the holder's pipe; its flock(1) helper reads EOF and exits within moments.
    let lock;
    for (let i = 0; i < 50 && !lock; i++) {
      lock = await lockStateDir(stateDir).catch(() => undefined);
      if (!lock) await new Promise((r) => setTimeout(r, 100));
    }
    expect(lock, 'the lock is free after its holder was killed').toBeDefined();
    // And held again by us: a third taker is refused until we release.
    await expect(lockStateDir(stateDir)).rejects.toThrow(`locked by \`virt-balancer run\` (process ${process.pid}`);
    await lock!.release();
    const again = await lockStateDir(stateDir);
    await again.release();
  }, 60_000);

  it('names a one-shot command that holds it and says to wait for it, not to stop a daemon', async () => {
    const stateDir = join(dir, 'state-drain');
    const held = await lockStateDir(stateDir, 'drain kvm1');
    try {
      const refusal = (await lockStateDir(stateDir).catch((e: unknown) => e)) as StateDirLockedError;
      expect(refusal).toBeInstanceOf(StateDirLockedError);
      expect(refusal.holder.command).toBe('drain kvm1');
      expect(refusal.message).toContain(`locked by \`virt-balancer drain kvm1\` (process ${process.pid}`);
      expect(refusal.message).toContain('that command moves VMs itself without a daemon: wait for it to end, then try again');
      expect(refusal.message).not.toContain('only one `run`');
    } finally {
      await held.release();
    }
  });
});
