/**
 * The shipped deployment against real software: deploy/install.sh stages the service's tree, and
 * the controller runs from it with the systemd unit's own command line against the lab hosts;
 * Debian's Prometheus runs deploy/prometheus/prometheus.yml (target and intervals pointed at this
 * test) with the shipped alert rules and scrapes it. It must see the three lab hosts up, the
 * unreachable extra host down with its alert pending, every rule evaluating without error, and
 * every Grafana dashboard query accepted by the real PromQL engine.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sleep } from '../../lab/run.js';

const root = join(import.meta.dirname, '..', '..');
// Ports of this file only (the controller test uses 19464/19090).
// Below Linux's ephemeral range (32768-60999): a port in it may be any process's outgoing or port-0 socket
// (the scale bench's thousands of fake hosts took 39464 and 39090 once).
const METRICS_LISTEN = '127.0.0.1:29464';
const PROMETHEUS_LISTEN = '127.0.0.1:29090';
const PROM = `http://${PROMETHEUS_LISTEN}`;

let dir: string;
let controller: ChildProcess | undefined;
let prometheus: ChildProcess | undefined;
let controllerOutput = '';
let configFile: string;
let labConfig: Record<string, unknown> & { hosts: unknown[] };
let execReload: string;
let prometheusOutput = '';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: Sample[] } }> {
  const response = await fetch(`${PROM}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await response.json()) as { status: string; error?: string; data?: { result: Sample[] } };
}

/** Poll `probe` until it returns a value, or fail with what was last seen. */
async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(1000);
  }
  throw new Error(
    `${what} within ${timeoutMs / 1000} s (last error: ${(last as Error)?.message ?? 'none'}); controller: ${controllerOutput.slice(-800)} prometheus: ${prometheusOutput.slice(-800)}`,
  );
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

describe('installed controller scraped by Prometheus with the shipped config, rules and dashboard', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vb-promdeploy-'));
    const lab = parse(readFileSync(inject('labConfigPath'), 'utf8')) as Record<string, unknown> & { hosts: unknown[] };
    labConfig = lab;
    configFile = join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      stringify({
        ...lab,
        // Nothing listens on 127.0.0.99: a host that is down, for the HostUnreachable alert.
        hosts: [...lab.hosts, { name: 'ghost', uri: 'qemu+tcp://127.0.0.99/system' }],
        stateDir: join(dir, 'state'),
        loop: { schedule: '*/2 * * * * *', dryRun: true },
        metrics: { listen: METRICS_LISTEN },
      }),
    );
    // The installed tree, started as the unit starts it (paths moved under the staging root).
    const dest = join(dir, 'root');
    execFileSync('bash', [join(root, 'deploy/install.sh'), '--destdir', dest], { cwd: root, stdio: 'pipe', timeout: 600_000 });
    const unit = readFileSync(join(dest, 'etc/systemd/system/virt-balancer.service'), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)![1].split(' ');
    const workingDirectory = /^WorkingDirectory=(.*)$/m.exec(unit)![1];
    execReload = /^ExecReload=(.*)$/m.exec(unit)![1];
    expect(execStart.slice(-3)).toEqual(['run', '--config', '/etc/virt-balancer/config.yaml']);
    const args = [...execStart.slice(1, -1).map((a) => (a.startsWith('/opt/') ? join(dest, a) : a)), configFile];
    // systemd creates the working directory (the state directory) before starting.
    mkdirSync(join(dest, workingDirectory), { recursive: true });
    controller = spawn(process.execPath, args, { cwd: join(dest, workingDirectory), stdio: ['ignore', 'pipe', 'pipe'] });
    controller.stdout!.on('data', (d) => (controllerOutput += d));
    controller.stderr!.on('data', (d) => (controllerOutput += d));

    // The shipped prometheus.yml, changed only where a test must: its target, a fast scrape and
    // evaluation, and the rules file next to it.
    const shipped = parse(readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const job = shipped.scrape_configs.find((c) => c.job_name === 'virt-balancer');
    expect(job, 'deploy/prometheus/prometheus.yml has a scrape job "virt-balancer"').toBeDefined();
    job!.static_configs = [{ targets: [METRICS_LISTEN] }];
    shipped.global = { ...shipped.global, scrape_interval: '1s', evaluation_interval: '1s' };
    mkdirSync(join(dir, 'rules'));
    for (const file of shipped.rule_files) copyFileSync(join(root, 'deploy/prometheus', file), join(dir, file));
    writeFileSync(join(dir, 'prometheus.yml'), stringify(shipped));
    prometheus = spawn(
      '/usr/bin/prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=${PROMETHEUS_LISTEN}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (d) => (prometheusOutput += d));
  });

  afterAll(async () => {
    await Promise.all([stop(prometheus), stop(controller)]);
  });

  it('scrapes virt_balancer_host_up: the three lab hosts at 1, the unreachable host at 0', async () => {
    const series = await waitUntil('Prometheus did not hold host_up for all four hosts', 120_000, async () => {
      const result = (await query('virt_balancer_host_up{job="virt-balancer"}')).data?.result ?? [];
      return result.length === 4 ? result : undefined;
    });
    const byHost = Object.fromEntries(series.map((s) => [s.metric.host, s.value[1]]));
    expect(byHost).toEqual({ lab1: '1', lab2: '1', lab3: '1', ghost: '0' });
    const up = (await query('up{job="virt-balancer"}')).data!.result;
    expect(up.map((s) => [s.metric.instance, s.value[1]])).toEqual([[METRICS_LISTEN, '1']]);
  });

  it('evaluates every shipped rule without error, with HostUnreachable pending for the down host only', async () => {
    const shippedAlerts = (
      parse(readFileSync(join(root, 'deploy/prometheus/rules/virt-balancer.rules.yml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] }
    ).groups.flatMap((g) => g.rules.map((r) => r.alert));
    type Rule = { name: string; health: string; lastError?: string; lastEvaluation: string; alerts: { labels: Record<string, string>; state: string }[] };
    const rules = await waitUntil('the rules were not all evaluated', 60_000, async () => {
      const body = (await (await fetch(`${PROM}/api/v1/rules?type=alert`)).json()) as { data: { groups: { rules: Rule[] }[] } };
      const all = body.data.groups.flatMap((g) => g.rules);
      // health is "unknown" until a rule's first evaluation.
      return all.length === shippedAlerts.length &&
        all.every((r) => r.health !== 'unknown') &&
        all.find((r) => r.name === 'VirtBalancerHostUnreachable')!.alerts.length > 0
        ? all
        : undefined;
    });
    expect(rules.map((r) => r.name).sort()).toEqual([...shippedAlerts].sort());
    for (const rule of rules)
      expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', error: '' });
    const unreachable = rules.find((r) => r.name === 'VirtBalancerHostUnreachable')!;
    // `for: 2m` keeps it pending during this test; the point is which host it is about.
    expect(unreachable.alerts.map((a) => [a.labels.host, a.state])).toEqual([['ghost', 'pending']]);
    const firingOrPending = rules.filter((r) => r.alerts.length > 0).map((r) => r.name);
    expect(firingOrPending).not.toContain('VirtBalancerDown');
    expect(firingOrPending).not.toContain('VirtBalancerTicksStalled');
  });

  it('accepts every Grafana dashboard query, and the per-host panels return the lab hosts', async () => {
    const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/dashboards/virt-balancer.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[]; panels?: unknown[] }[];
    };
    const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(targets.length).toBeGreaterThan(10);
    // Grafana replaces $__rate_interval before the query reaches Prometheus.
    const results = await Promise.all(targets.map(async (t) => ({ ...t, answer: await query(t.expr.replaceAll('$__rate_interval', '1m')) })));
    for (const r of results)
      expect({ panel: r.panel, expr: r.expr, status: r.answer.status, error: r.answer.error ?? '' }).toEqual({
        panel: r.panel,
        expr: r.expr,
        status: 'success',
        error: '',
      });
    const cpu = results.find((r) => r.expr.startsWith('virt_balancer_host_cpu_utilization_ratio'));
    expect(cpu, 'a host CPU panel').toBeDefined();
    const hosts = await waitUntil('host CPU utilisation had no samples for the lab hosts', 30_000, async () => {
      const found = ((await query(cpu!.expr)).data?.result ?? []).map((s) => s.metric.host).sort();
      return ['lab1', 'lab2', 'lab3'].every((h) => found.includes(h)) ? found : undefined;
    });
    expect(hosts).not.toContain('ghost');
  });

  it("reloads on the unit's ExecReload (SIGHUP): a host removed from the config leaves Prometheus and its alert", async () => {
    writeFileSync(
      configFile,
      stringify({ ...labConfig, stateDir: join(dir, 'state'), loop: { schedule: '*/2 * * * * *', dryRun: true }, metrics: { listen: METRICS_LISTEN } }),
    );
    const [command, ...args] = execReload.replace('$MAINPID', String(controller!.pid)).split(' ');
    execFileSync(command, args);
    const hosts = await waitUntil('the removed host was still scraped', 60_000, async () => {
      const result = (await query('virt_balancer_host_up{job="virt-balancer"}')).data?.result ?? [];
      return result.length === 3 ? result.map((s) => `${s.metric.host}=${s.value[1]}`).sort() : undefined;
    });
    expect(hosts).toEqual(['lab1=1', 'lab2=1', 'lab3=1']);
    await waitUntil('VirtBalancerHostUnreachable stayed pending for the removed host', 30_000, async () => {
      const body = (await (await fetch(`${PROM}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string> }[] } };
      return body.data.alerts.some((a) => a.labels.alertname === 'VirtBalancerHostUnreachable') ? undefined : true;
    });
    expect(controller!.exitCode).toBeNull();
    expect(controllerOutput).toContain('config reloaded');
  });
});
