/**
 * Deploy artefacts checked with the real tools: systemd-analyze for the unit, promtool for the
 * Prometheus config and rules (CI installs both: a missing tool fails the test, it does not skip),
 * the Grafana dashboard's queries against the metric catalogue, the Dockerfile against the build
 * context, and the example configs against the schema.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { createMetrics, metricNames } from '../../../src/metrics/catalog.js';

const root = join(import.meta.dirname, '..', '..', '..');
const known = new Set(metricNames(createMetrics(undefined, { defaultMetrics: false })));

function tool(name: string): string {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`${name} is not installed: apt-get install -y ${name === 'promtool' ? 'prometheus' : 'systemd'} (.ci/run installs it)`);
}

/** Metric names a PromQL expression uses (identifiers followed by a selector, range or operator). */
export function metricsInExpr(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  return [...withoutStrings.matchAll(/\b(virt_balancer_[a-z0-9_]+)/g)].map((m) => m[1]);
}

export function unknownMetrics(names: string[]): string[] {
  return names.filter((n) => !known.has(n) && !known.has(n.replace(/_(bucket|sum|count)$/, '')));
}

describe('deploy artefacts', () => {
  it('the systemd unit passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vb-unit-'));
    let unit = readFileSync(join(root, 'deploy/systemd/virt-balancer.service'), 'utf8');
    if (!existsSync('/usr/bin/node')) unit = unit.replaceAll('/usr/bin/node', process.execPath);
    writeFileSync(join(dir, 'virt-balancer.service'), unit);
    const out = execFileSync(tool('systemd-analyze'), ['verify', join(dir, 'virt-balancer.service')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).not.toMatch(/virt-balancer\.service:\d+:/);
    for (const setting of ['ProtectSystem=strict', 'ProtectHome=yes', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'Restart=on-failure', 'User=virt-balancer', 'StateDirectory=virt-balancer', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      expect(unit).toContain(setting);
    }
  });

  it('the install script stages the service, the code and a config under --destdir', () => {
    const dest = mkdtempSync(join(tmpdir(), 'vb-install-'));
    execFileSync('bash', [join(root, 'deploy/install.sh'), '--destdir', dest], { cwd: root, stdio: 'pipe', timeout: 600_000 });
    expect(existsSync(join(dest, 'etc/systemd/system/virt-balancer.service'))).toBe(true);
    expect(existsSync(join(dest, 'etc/virt-balancer/config.yaml'))).toBe(true);
    const help = execFileSync(process.execPath, [join(dest, 'opt/virt-balancer/dist/src/cli/main.js'), 'check-config', '--config', join(dest, 'etc/virt-balancer/config.yaml')], { encoding: 'utf8' });
    expect(help).toMatch(/OK \(3 hosts; policies balance/);
  }, 600_000);

  it('the Prometheus config and rules pass promtool, including the rules unit tests', () => {
    const promtool = tool('promtool');
    execFileSync(promtool, ['check', 'config', join(root, 'deploy/prometheus/prometheus.yml')], { stdio: 'pipe' });
    execFileSync(promtool, ['check', 'rules', join(root, 'deploy/prometheus/rules/virt-balancer.rules.yml')], { stdio: 'pipe' });
    const out = execFileSync(promtool, ['test', 'rules', join(root, 'deploy/prometheus/rules/virt-balancer.rules.test.yml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/SUCCESS/);
  });

  it('every metric the alert rules and the dashboard query is one virt-balancer exports', () => {
    const rules = parseYaml(readFileSync(join(root, 'deploy/prometheus/rules/virt-balancer.rules.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
    const ruleMetrics = rules.groups.flatMap((g) => g.rules.flatMap((r) => metricsInExpr(r.expr)));
    const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/dashboards/virt-balancer.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const dashboardMetrics = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => metricsInExpr(t.expr)));
    expect(ruleMetrics.length).toBeGreaterThan(4);
    expect(dashboardMetrics.length).toBeGreaterThan(10);
    expect(unknownMetrics([...ruleMetrics, ...dashboardMetrics])).toEqual([]);
    // The checker itself catches a name we do not export.
    expect(unknownMetrics(metricsInExpr('rate(virt_balancer_migrations_totl[5m])'))).toEqual(['virt_balancer_migrations_totl']);
    expect(unknownMetrics(metricsInExpr('histogram_quantile(0.9, rate(virt_balancer_migration_duration_seconds_bucket[5m]))'))).toEqual([]);
  });

  it('the Dockerfile is multi-stage, runs as a non-root user with a healthcheck, and copies only what the context has', () => {
    const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(lines.filter((l) => /^FROM /i.test(l)).length).toBeGreaterThanOrEqual(2);
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
    for (const line of lines.filter((l) => /^COPY /i.test(l) && !/--from=/.test(l))) {
      const parts = line.split(/\s+/).slice(1);
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(root, source)), `COPY source ${source}`).toBe(true);
        expect(ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)), `${source} excluded by .dockerignore`).toBe(false);
      }
    }
    const user = lines.filter((l) => /^USER /i.test(l)).pop();
    expect(user).toBeDefined();
    expect(user).not.toMatch(/USER\s+(root|0)\b/);
    expect(lines.some((l) => /^HEALTHCHECK .*\/healthz/.test(l))).toBe(true);
    const runtime = text.slice(text.lastIndexOf('FROM '));
    expect(runtime).not.toMatch(/apt-get install.*(gcc|g\+\+|make|build-essential)/);
  });

  it('the example configs are valid', async () => {
    for (const file of ['deploy/config/minimal.yaml', 'deploy/config/virt-balancer.example.yaml']) {
      const config = await loadConfig(join(root, file));
      expect(config.hosts.length).toBeGreaterThan(1);
    }
  });
});
