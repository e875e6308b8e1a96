/**
 * Issue 27 R1 and the reload rows: signals through every phase of a real `run` process.
 * - During start-up (a host that accepts and never answers holds it for the 30 s handshake bound),
 *   SIGHUP is queued with a log line and applied once running; SIGUSR1 (Node's debugger),
 *   SIGUSR2 and SIGALRM are logged and ignored; nothing ends the daemon silently.
 * - A SIGHUP that changes a setting fixed at start (stateDir, metrics.listen, ha) is refused,
 *   naming each; log.level is applied (no silent "config reloaded").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { lockStateDir } from '../../../src/ha/state-lock.js';
import { startDaemon, type Daemon } from './daemon.js';

const ADDRESS = '127.0.53.3';
const dirs: string[] = [];
const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) {
      d.proc.kill('SIGKILL');
      await d.exited;
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vb-daemon-'));
  dirs.push(dir);
  return dir;
}

const msgOf = (r: Record<string, unknown>) => String(r.msg ?? '');

describe('signals during start-up (R1)', () => {
  it('SIGHUP, SIGUSR1, SIGUSR2 and SIGALRM while one host holds start-up: logged, the daemon lives, the SIGHUP is applied once running', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, ADDRESS, r));
    const connected = new Promise<void>((r) => silent.once('connection', () => r()));
    try {
      const dir = tempDir();
      const config = join(dir, 'config.yaml');
      writeFileSync(
        config,
        `hosts:\n  - { name: kvm1, uri: "qemu+tcp://${ADDRESS}:${(silent.address() as AddressInfo).port}/system" }\nstateDir: ${join(dir, 'state')}\nmetrics: { listen: "" }\n`,
      );
      const daemon = startDaemon(['-c', config, '--log-level', 'info']);
      daemons.push(daemon);
      // The daemon is dialling the silent host: start-up is under way (it waits for the handshake).
      await connected;
      for (const signal of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGALRM'] as const) daemon.proc.kill(signal);
      // Pending signals are delivered in the kernel's order, not the order sent.
      for (const signal of ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGALRM']) await daemon.waitFor((r) => r.signal === signal && r.phase === 'starting', 20_000);
      expect(
        daemon.records
          .filter((r) => r.phase === 'starting')
          .map(msgOf)
          .sort(),
      ).toEqual(
        [
          'SIGHUP during start-up: the config will be reloaded once start-up ends',
          'SIGUSR1 has no meaning to virt-balancer: ignored',
          'SIGUSR2 has no meaning to virt-balancer: ignored',
          'SIGALRM has no meaning to virt-balancer: ignored',
        ].sort(),
      );
      expect(daemon.proc.exitCode).toBeNull();
      expect(daemon.proc.signalCode).toBeNull();
      // SIGUSR1 did not open Node's debugger.
      expect(daemon.stderr()).not.toContain('Debugger listening');
      // The host hangs up and goes away: start-up ends (kvm1 down), and the queued SIGHUP is applied.
      silent.close();
      for (const s of sockets) s.destroy();
      await daemon.waitFor((r) => msgOf(r) === 'virt-balancer running', 30_000);
      await daemon.waitFor((r) => msgOf(r) === 'reloading the config: a SIGHUP came during start-up', 10_000);
      await daemon.waitFor((r) => msgOf(r).startsWith('config reloaded'), 10_000);
      daemon.proc.kill('SIGTERM');
      expect(await daemon.exited).toEqual({ code: 0, signal: null });
    } finally {
      silent.close();
      for (const s of sockets) s.destroy();
    }
  }, 90_000);
});

describe('SIGHUP while running', () => {
  it('a reload changing stateDir, metrics.listen or ha is refused naming each; the old state dir stays locked; log.level is applied', async () => {
    const dir = tempDir();
    const config = join(dir, 'config.yaml');
    const stateDir = join(dir, 'state');
    const otherStateDir = join(dir, 'other-state');
    // Nothing listens there: start-up is quick (connection refused).
    const base = `hosts:\n  - { name: kvm1, uri: "qemu+tcp://${ADDRESS}:1/system" }\nloop: { schedule: "* * * * * *" }\n`;
    writeFileSync(config, `${base}stateDir: ${stateDir}\nmetrics: { listen: "" }\nlog: { level: info }\n`);
    const daemon = startDaemon(['-c', config]);
    daemons.push(daemon);
    await daemon.waitFor((r) => msgOf(r) === 'virt-balancer running', 60_000);

    writeFileSync(config, `${base}stateDir: ${otherStateDir}\nmetrics: { listen: "127.0.53.3:19100" }\nlog: { level: info }\n`);
    let from = daemon.records.length;
    daemon.proc.kill('SIGHUP');
    const refused = await daemon.waitFor((r) => msgOf(r).startsWith('config reload refused'), 20_000, from);
    expect(refused.settings).toEqual(['stateDir', 'metrics.listen']);
    expect(msgOf(refused)).toBe(
      'config reload refused: stateDir, metrics.listen cannot change while running (restart virt-balancer to change them, or put the running value back); keeping the running config',
    );
    expect(daemon.records.slice(from).some((r) => msgOf(r).startsWith('config reloaded'))).toBe(false);
    // The running state dir is still the daemon's: a second taker is refused; the new one was never made.
    await expect(lockStateDir(stateDir)).rejects.toThrow(/is locked by `virt-balancer run` \(process/);

    writeFileSync(config, `${base}stateDir: ${stateDir}\nmetrics: { listen: "" }\nlog: { level: debug }\n`);
    from = daemon.records.length;
    daemon.proc.kill('SIGHUP');
    const reloaded = await daemon.waitFor((r) => msgOf(r) === 'config reloaded', 20_000, from);
    expect(reloaded.changed).toEqual(['log']);
    // Debug records (level 20) are written from then on.
    await daemon.waitFor((r) => r.level === 20, 20_000, from);
    daemon.proc.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 120_000);
});
