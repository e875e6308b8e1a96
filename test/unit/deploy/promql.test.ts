import { describe, expect, it } from 'vitest';
import { exprProblems, metricsInExpr } from './promql.js';

describe('PromQL metric checker', () => {
  it('finds metric names, not functions, keywords, labels, numbers, ranges or Grafana variables', () => {
    expect(
      metricsInExpr(
        'histogram_quantile(0.9, sum by (le, technique) (rate(virt_balancer_migration_duration_seconds_bucket{technique=~"pre.*"}[$__rate_interval])))',
      ),
    ).toEqual(['virt_balancer_migration_duration_seconds_bucket']);
    expect(metricsInExpr('time() - virt_balancer_last_tick_timestamp_seconds > 3e2')).toEqual(['virt_balancer_last_tick_timestamp_seconds']);
    expect(metricsInExpr('virt_balancer_host_memory_used_bytes / on (host) group_left virt_balancer_host_memory_total_bytes offset 5m')).toEqual([
      'virt_balancer_host_memory_used_bytes',
      'virt_balancer_host_memory_total_bytes',
    ]);
    expect(metricsInExpr('up{job="virt-balancer"} == 0 or absent(up{job="virt-balancer"})')).toEqual(['up', 'up']);
  });

  it('reports names virt-balancer does not export, and rate() over a gauge', () => {
    expect(exprProblems('rate(virt_balancer_migrations_totl[5m])')).toEqual([
      'virt_balancer_migrations_totl is not a metric virt-balancer exports (see docs/metrics.md)',
    ]);
    expect(exprProblems('node_load1 > 2')).toEqual(['node_load1 is not a metric virt-balancer exports (see docs/metrics.md)']);
    expect(exprProblems('rate(virt_balancer_host_up[5m])')).toEqual(['rate(virt_balancer_host_up): virt_balancer_host_up is a gauge; rate needs a counter']);
    // Histogram series, process metrics and Prometheus' own series are fine.
    expect(exprProblems('rate(virt_balancer_tick_duration_seconds_count[5m]) + rate(virt_balancer_tick_duration_seconds_sum[5m])')).toEqual([]);
    expect(exprProblems('rate(virt_balancer_process_cpu_seconds_total[5m]) and up')).toEqual([]);
  });
});
