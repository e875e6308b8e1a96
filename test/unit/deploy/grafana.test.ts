/**
 * The Grafana dashboard and provisioning files: every query uses only metrics virt-balancer
 * exports (a renamed metric breaks this test, not a panel in production), the panels cover what
 * an operator needs, and the layout is well-formed. (The lab test prometheus-deploy runs every
 * query through a real Prometheus.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { exprProblems, metricsInExpr } from './promql.js';
import { repoRoot } from './tools.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { refId: string; expr: string }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/dashboards/virt-balancer.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
};
/** Panels at any depth (rows hold panels). */
const panels = (function flatten(list: Panel[]): Panel[] {
  return list.flatMap((p) => [p, ...flatten(p.panels ?? [])]);
})(dashboard.panels);
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

describe('Grafana dashboard', () => {
  it('queries only metrics virt-balancer exports, counters only through rate/increase', () => {
    expect(targets.length).toBeGreaterThan(15);
    for (const t of targets) expect({ panel: t.panel, expr: t.expr, problems: exprProblems(t.expr) }).toEqual({ panel: t.panel, expr: t.expr, problems: [] });
  });

  it('the check fails on a panel querying a name nobody exports', () => {
    const broken = targets.map((t) => t.expr.replace('virt_balancer_host_up', 'virt_balancer_hosts_up'));
    expect(broken.flatMap((e) => exprProblems(e))).toEqual(['virt_balancer_hosts_up is not a metric virt-balancer exports (see docs/metrics.md)']);
  });

  it('covers imbalance, host CPU/memory/up, migrations by technique and outcome, duration and downtime quantiles, prediction error, in-flight jobs, libvirt errors and tick duration', () => {
    const used = new Set(targets.flatMap((t) => metricsInExpr(t.expr)));
    for (const metric of [
      'virt_balancer_cluster_imbalance',
      'virt_balancer_host_cpu_utilization_ratio',
      'virt_balancer_host_memory_used_bytes',
      'virt_balancer_host_up',
      'virt_balancer_migrations_total',
      'virt_balancer_migration_duration_seconds_bucket',
      'virt_balancer_migration_downtime_seconds_bucket',
      'virt_balancer_migration_prediction_error_ratio_bucket',
      'virt_balancer_migrations_in_flight',
      'virt_balancer_libvirt_errors_total',
      'virt_balancer_tick_duration_seconds_bucket',
    ]) {
      expect(used, metric).toContain(metric);
    }
    const quantiles = targets.filter((t) => t.expr.includes('histogram_quantile'));
    expect(quantiles.length).toBeGreaterThanOrEqual(5);
    // histogram_quantile needs the le label kept through the aggregation.
    for (const q of quantiles) expect(q.expr, q.panel).toMatch(/sum by \((le|[a-z_, ]*\ble\b[a-z_, ]*)\) \(rate\(virt_balancer_[a-z_]+_bucket\[/);
    expect(targets.find((t) => t.expr.includes('virt_balancer_migrations_total') && /by \(technique, outcome\)/.test(t.expr))).toBeDefined();
    // Issue 18: encrypted and plaintext migrations apart.
    expect(targets.find((t) => t.expr.includes('virt_balancer_migrations_total') && /by \(tls, outcome\)/.test(t.expr))).toBeDefined();
    expect(targets.find((t) => t.expr.includes('virt_balancer_migration_bytes_total') && /by \(tls\)/.test(t.expr))).toBeDefined();
  });

  it('is well-formed: unique panel ids and refIds, the datasource variable everywhere, no overlapping panels', () => {
    expect(dashboard.uid).toBe('virt-balancer');
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const p of panels) {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, not a template literal
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    for (const a of panels) {
      for (const b of panels) {
        if (a === b) continue;
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });
});

describe('Grafana provisioning', () => {
  it('provides a Prometheus datasource and a file provider for the dashboard folder', () => {
    const datasources = parse(readFileSync(join(repoRoot, 'deploy/grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as {
      apiVersion: number;
      datasources: { type: string; url: string }[];
    };
    expect(datasources.apiVersion).toBe(1);
    expect(datasources.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://127.0.0.1:9090' })]);
    const providers = parse(readFileSync(join(repoRoot, 'deploy/grafana/provisioning/dashboards/virt-balancer.yaml'), 'utf8')) as {
      apiVersion: number;
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards/virt-balancer' } });
  });
});
