/**
 * The read side and the daemon against the lab: `status --json`, `plan --json` (proposes, moves
 * nothing), `run` with /metrics and /healthz and a clean SIGTERM, a host that cannot be reached,
 * and a real Prometheus scraping the running controller.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { sleep } from '../../lab/run.js';

const execFileAsync = promisify(execFile);
const created: string[] = [];
let lab: Lab;
let dir: string;

function writeConfig(name: string, overrides: Record<string, unknown>, extraHosts: unknown[] = []): string {
  const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as Record<string, unknown> & { hosts: unknown[] };
  const file = join(dir, name);
  writeFileSync(file, stringify({ ...base, hosts: [...base.hosts, ...extraHosts], stateDir: join(dir, 'state'), ...overrides }));
  return file;
}

function cli(args: string[], timeoutMs = 120_000) {
  return execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: timeoutMs });
}

async function waitFor(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fetch(url);
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${(last as Error)?.message}`);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('controller against the lab', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-ctl-'));
    created.push('ctl-busy1', 'ctl-busy2');
    await lab.createVm({ name: 'ctl-busy1', host: 'lab2', vcpus: 1, memoryMiB: 160, cpuBusyPercent: 60, dirtyMiBps: 1, workloadMiB: 16 });
    await lab.createVm({ name: 'ctl-busy2', host: 'lab2', vcpus: 1, memoryMiB: 160, cpuBusyPercent: 60, dirtyMiBps: 1, workloadMiB: 16 });
  });
  afterAll(async () => {
    for (const name of created) await lab.destroyVm(name).catch(() => {});
  });

  it('status --json shows each VM on its host with its CPU share and memory, and a dead host as down', async () => {
    const file = writeConfig('status.yaml', {}, [{ name: 'ghost', uri: 'qemu+tcp://127.0.0.99/system' }]);
    const { stdout } = await cli(['status', '--json', '--config', file]);
    const status = JSON.parse(stdout) as {
      hosts: {
        name: string;
        up: boolean;
        cpuUtilization: number;
        memoryTotalBytes: number;
        vms: { name: string; cpuUtilization: number; memoryBytes: number; vcpus: number; state: string; uuid: string }[];
      }[];
    };
    const lab2 = status.hosts.find((h) => h.name === 'lab2')!;
    expect(lab2.up).toBe(true);
    const vm = lab2.vms.find((v) => v.name === 'ctl-busy1')!;
    expect(vm).toMatchObject({ vcpus: 1, state: 'running', memoryBytes: 160 * 2 ** 20 });
    expect(vm.uuid).toMatch(/^[0-9a-f-]{36}$/);
    // Busy 60 % of one vCPU; TCG on a shared machine gets less than it asks for, never more.
    expect(vm.cpuUtilization).toBeGreaterThan(0.2);
    expect(vm.cpuUtilization).toBeLessThanOrEqual(1);
    expect(lab2.cpuUtilization).toBeGreaterThan(0.1);
    expect(lab2.memoryTotalBytes).toBe(4096 * 2 ** 20);
    const ghost = status.hosts.find((h) => h.name === 'ghost')!;
    expect(ghost.up).toBe(false);
    expect(ghost.vms).toEqual([]);
    expect(status.hosts.filter((h) => h.up).map((h) => h.name)).toEqual(['lab1', 'lab2', 'lab3']);
  });

  it('plan --json proposes moving load off the hot host and moves nothing', async () => {
    // Thresholds from what lab2 measures now (TCG guests get what the shared machine gives them):
    // just below lab2's load, so lab2 is hot and either VM alone fits elsewhere.
    const status = JSON.parse((await cli(['status', '--json', '--config', inject('labConfigPath')])).stdout) as {
      hosts: { name: string; cpuUtilization: number }[];
    };
    const lab2Percent = status.hosts.find((h) => h.name === 'lab2')!.cpuUtilization * 100;
    expect(lab2Percent).toBeGreaterThan(5);
    const cpuHighPercent = Math.max(2, Math.floor(lab2Percent * 0.8));
    const file = writeConfig('plan.yaml', { policy: { cpuHighPercent, cpuLowPercent: 1, hysteresisPercent: 0, bandwidthMiBps: 250 } });
    const { stdout } = await cli(['plan', '--json', '--config', file]);
    const result = JSON.parse(stdout) as {
      moves: {
        vm: string;
        from: string;
        to: string;
        technique: string;
        predicted: { totalSeconds: number; downtimeMs: number; bytes: number };
        reason: string;
      }[];
      skipped: { vm: string; reason: string }[];
      notices?: unknown[];
    };
    // Why nothing moved, when nothing did: the plan's own reasons (lab2's load is what TCG guests get).
    expect(
      result.moves.length,
      `cpuHighPercent ${cpuHighPercent}; skipped: ${JSON.stringify(result.skipped)}; notices: ${JSON.stringify(result.notices)}`,
    ).toBeGreaterThanOrEqual(1);
    const move = result.moves[0];
    expect(move.vm).toMatch(/^ctl-busy/);
    expect(move.from).toBe('lab2');
    expect(['lab1', 'lab3']).toContain(move.to);
    expect(['precopy', 'postcopy', 'hybrid', 'autoconverge', 'xbzrle', 'multifd']).toContain(move.technique);
    expect(move.predicted.totalSeconds).toBeGreaterThan(0);
    expect(move.reason).toMatch(/lab2 CPU/);
    expect(await lab.whereIs('ctl-busy1')).toBe('lab2');
    expect(await lab.whereIs('ctl-busy2')).toBe('lab2');
  });

  it('run serves /metrics and /healthz, is scraped by a real Prometheus, reloads its config on SIGHUP, and exits 0 on SIGTERM', async () => {
    const runSettings = {
      loop: { schedule: '*/2 * * * * *', dryRun: true },
      metrics: { listen: '127.0.0.1:19464' },
      libvirt: { reconnectInitialDelaySeconds: 0.5, reconnectMaxDelaySeconds: 2 },
    };
    const file = writeConfig('run.yaml', runSettings);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const code = exited(child);
    let prometheus: ChildProcess | undefined;
    try {
      await waitFor('http://127.0.0.1:19464/healthz', 30_000);
      await sleep(4500);
      const health = await fetch('http://127.0.0.1:19464/healthz');
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const metrics = await (await fetch('http://127.0.0.1:19464/metrics')).text();
      for (const host of ['lab1', 'lab2', 'lab3']) expect(metrics).toContain(`virt_balancer_host_up{host="${host}"} 1`);
      expect(metrics).toMatch(/virt_balancer_vm_cpu_utilization_ratio\{host="lab2",vm="ctl-busy1"\} 0\.\d+/);
      expect(metrics).toMatch(/virt_balancer_tick_duration_seconds_count [1-9]/);
      expect(metrics).toContain('virt_balancer_process_cpu_seconds_total');
      // The figures are libvirt's: memory as virsh domstats reports it.
      const domstats = (await execFileAsync('virsh', ['-c', lab.host('lab2').uri, 'domstats', '--balloon', 'ctl-busy1'])).stdout;
      const balloonKiB = Number(/balloon\.current=(\d+)/.exec(domstats)![1]);
      expect(metrics).toContain(`virt_balancer_vm_memory_bytes{host="lab2",vm="ctl-busy1"} ${balloonKiB * 1024}`);
      // CPU as virsh domstats reports it: the cpu.time delta over wall time (one vCPU). Ours is a
      // windowed mean of the same counter, so they agree closely for a steady guest, not exactly.
      const cpuTimeNs = async () =>
        BigInt(/cpu\.time=(\d+)/.exec((await execFileAsync('virsh', ['-c', lab.host('lab2').uri, 'domstats', '--cpu-total', 'ctl-busy1'])).stdout)![1]);
      const [t0, c0] = [performance.now(), await cpuTimeNs()];
      await sleep(4000);
      const [c1, t1] = [await cpuTimeNs(), performance.now()];
      const virshRatio = Number(c1 - c0) / 1e6 / (t1 - t0);
      const ours = Number(
        /virt_balancer_vm_cpu_utilization_ratio\{host="lab2",vm="ctl-busy1"\} ([0-9.e-]+)/.exec(
          await (await fetch('http://127.0.0.1:19464/metrics')).text(),
        )![1],
      );
      console.log(`ctl-busy1 CPU: virt-balancer ${ours.toFixed(3)}, virsh domstats ${virshRatio.toFixed(3)}`);
      expect(virshRatio).toBeGreaterThan(0.05);
      expect(Math.abs(ours - virshRatio), `ours ${ours}, virsh ${virshRatio}`).toBeLessThan(0.2);

      // A host whose libvirtd dies is reported down, and comes back after it restarts.
      const metricsText = async () => (await fetch('http://127.0.0.1:19464/metrics')).text();
      const waitMetric = async (pattern: RegExp, what: string) => {
        for (let i = 0; i < 40; i++) {
          if (pattern.test(await metricsText())) return;
          await sleep(500);
        }
        throw new Error(`metrics never showed ${what}`);
      };
      await lab.stopHost('lab3');
      try {
        await waitMetric(/virt_balancer_host_up\{host="lab3"\} 0/, 'lab3 down');
        expect(await metricsText()).toContain('virt_balancer_host_up{host="lab1"} 1');
      } finally {
        await lab.startHost('lab3');
      }
      await waitMetric(/virt_balancer_host_up\{host="lab3"\} 1/, 'lab3 back up');
      expect(output).toMatch(/"host":"lab3".*libvirt host connection lost; reconnecting/);

      // A real Prometheus from Debian, on loopback, scraping the controller.
      const promDir = mkdtempSync(join(tmpdir(), 'vb-prom-'));
      writeFileSync(
        join(promDir, 'prometheus.yml'),
        stringify({ global: { scrape_interval: '1s' }, scrape_configs: [{ job_name: 'virt-balancer', static_configs: [{ targets: ['127.0.0.1:19464'] }] }] }),
      );
      prometheus = spawn(
        'prometheus',
        [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, '--web.listen-address=127.0.0.1:19090'],
        { stdio: 'ignore' },
      );
      let series: { metric: { host: string }; value: [number, string] }[] = [];
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && series.length < 3) {
        await sleep(1000);
        try {
          const r = await fetch('http://127.0.0.1:19090/api/v1/query?query=virt_balancer_host_up');
          series = ((await r.json()) as { data: { result: typeof series } }).data.result;
        } catch {
          /* Prometheus still starting */
        }
      }
      expect(series.map((s) => s.metric.host).sort()).toEqual(['lab1', 'lab2', 'lab3']);
      expect(series.every((s) => s.value[1] === '1')).toBe(true);

      // SIGHUP: an invalid config is refused and the running one kept; a valid one adds a host.
      writeFileSync(file, 'hosts: []\n');
      child.kill('SIGHUP');
      await sleep(1500);
      expect(output).toMatch(/config reload failed; keeping the running config/);
      writeConfig('run.yaml', runSettings, [{ name: 'ghost', uri: 'qemu+tcp://127.0.0.99/system' }]);
      child.kill('SIGHUP');
      let reloaded = '';
      for (let i = 0; i < 20 && !/virt_balancer_host_up\{host="ghost"\} 0/.test(reloaded); i++) {
        await sleep(500);
        reloaded = await (await fetch('http://127.0.0.1:19464/metrics')).text();
      }
      expect(reloaded).toMatch(/virt_balancer_host_up\{host="ghost"\} 0/);
      expect(reloaded).toContain('virt_balancer_host_up{host="lab1"} 1');
    } finally {
      prometheus?.kill('SIGTERM');
      child.kill('SIGTERM');
    }
    expect(await code, output.slice(-2000)).toBe(0);
    expect(output).toContain('"msg":"stopped"');
    // Dry-run: planned, nothing moved.
    expect(await lab.whereIs('ctl-busy1')).toBe('lab2');
  });

  it('rejects an invalid config with every problem listed and exit code 2', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'hosts:\n  - name: a\n    uri: qemu+tcp://127.0.0.11\n    cpuOvercommitRatio: -1\npolicy:\n  cpuHighPercnt: 50\n');
    const failure = await cli(['status', '--config', file]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain(`invalid config ${file}`);
    expect(failure?.stderr).toMatch(/hosts\[0\]\.cpuOvercommitRatio: .*>0/);
    expect(failure?.stderr).toMatch(/policy: unknown field "cpuHighPercnt"/);
    expect(failure?.stderr).not.toMatch(/at .*\.ts:\d+/);
  });
});
