/**
 * metrics.listen: check-config refuses what is not host:port, and `run` exits non-zero when it
 * cannot serve metrics (systemd restarts a failed unit, never an idle one).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listenProblem } from '../../../src/metrics/server.js';
import { startFakeDaemon, type FakeDaemon } from '../libvirt/fake-daemon.js';

const repoRoot = join(import.meta.dirname, '..', '..', '..');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-listen-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(listen: string, uri = 'qemu+tcp://127.0.0.1:1/system'): string {
  const file = join(dir, 'config.yaml');
  // Nothing listens on port 1: the host is down, which start-up tolerates. A test daemon's host is
  // up (its connection stays open) but answers nothing past the handshake: calls time out in 1 s.
  writeFileSync(
    file,
    `hosts: [ { name: h1, uri: "${uri}" } ]\nlibvirt: { callTimeoutSeconds: 1 }\nmetrics: { listen: "${listen}" }\nstateDir: ${join(dir, 'state')}\nlog: { level: warn }\n`,
  );
  return file;
}

/** Run the CLI; exit code and output, or 'still running' after timeoutMs (then it is killed). */
function cli(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string } | 'still running'> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/virt-balancer.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('metrics.listen', () => {
  it('is host:port with a port in 1..65535, or "" for off', () => {
    expect(listenProblem('127.0.0.1:9464')).toBeUndefined();
    expect(listenProblem('[::1]:9464')).toBeUndefined();
    expect(listenProblem('')).toBeUndefined();
    expect(listenProblem('0.0.0.0')).toBe('metrics.listen "0.0.0.0" is not host:port (e.g. 127.0.0.1:9464; "" turns the endpoint off)');
    expect(listenProblem('127.0.0.1:70000')).toBe('metrics.listen "127.0.0.1:70000": port 70000 is not in 1..65535');
    expect(listenProblem('127.0.0.1:0')).toMatch(/port 0 is not in 1..65535/);
  });

  it('check-config refuses a listen address without a port (exit 2)', async () => {
    const result = await cli(['check-config', '--config', writeConfig('0.0.0.0')], 30_000);
    expect(result).not.toBe('still running');
    expect(result).toMatchObject({ code: 2, output: expect.stringContaining('  - metrics.listen: "0.0.0.0" is not host:port') });
  }, 40_000);

  it('run exits non-zero, saying why, when the metrics port is in use, with a host connected', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const daemon: FakeDaemon = await startFakeDaemon({ keepalive: 'answer' });
    let connections = 0;
    daemon.server.on('connection', () => connections++);
    try {
      const result = await cli(['run', '--config', writeConfig(`127.0.0.1:${port}`, daemon.uri)], 40_000);
      expect(result).not.toBe('still running');
      expect(result).toMatchObject({ code: 1, output: expect.stringContaining(`cannot listen on 127.0.0.1:${port} (metrics.listen): address in use`) });
      expect(connections).toBeGreaterThan(0);
    } finally {
      busy.close();
      await daemon.close();
    }
  }, 50_000);
});
