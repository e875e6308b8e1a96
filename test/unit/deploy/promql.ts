/**
 * Checking PromQL in the alert rules and the dashboard against the metric catalogue: which metric
 * names an expression uses, and which of them virt-balancer does not export.
 */
import { createMetrics } from '../../../src/metrics/catalog.js';

/** Aggregations (which may stand before `by (...)`) and operators. */
const KEYWORDS = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'limitk',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
  'atan2',
]);

/** Series Prometheus makes itself, usable in any query. */
const PROMETHEUS_SERIES = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
  'ALERTS',
  'ALERTS_FOR_STATE',
]);

/** Metric names a PromQL expression uses (not functions, keywords, labels or numbers). */
export function metricsInExpr(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries, including Grafana's $__rate_interval
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' $1 ') // label lists
    .replace(/\boffset\s+-?[0-9a-z]+/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ') // Grafana variables outside matchers
    .replace(/(^|[^A-Za-z0-9_:.])(\d+(\.\d+)?(e[+-]?\d+)?|0x[0-9a-f]+)(?![A-Za-z0-9_:])/gi, '$1 '); // numbers
  const names: string[] = [];
  for (const match of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    if (match[2] || KEYWORDS.has(match[1].toLowerCase())) continue;
    names.push(match[1]);
  }
  return names;
}

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/** Every series name virt-balancer's /metrics has, with its type (histograms as their _bucket/_sum/_count series). */
export function exportedSeries(): Map<string, MetricType> {
  const series = new Map<string, MetricType>();
  for (const metric of createMetrics(undefined, { defaultMetrics: true }).registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: MetricType };
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of type === 'histogram' ? ['_bucket', '_sum', '_count'] : ['', '_sum', '_count'])
        series.set(name + suffix, type === 'histogram' && suffix === '_bucket' ? 'histogram' : 'counter');
    } else series.set(name, type);
  }
  return series;
}

/** Problems with an expression: metrics nobody exports, rate()/increase() over a gauge. */
export function exprProblems(expr: string, series: Map<string, MetricType> = exportedSeries()): string[] {
  const problems: string[] = [];
  for (const name of metricsInExpr(expr)) {
    if (!series.has(name) && !PROMETHEUS_SERIES.has(name)) problems.push(`${name} is not a metric virt-balancer exports (see docs/metrics.md)`);
  }
  for (const match of expr.matchAll(/\b(rate|irate|increase)\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/g)) {
    if (series.get(match[2]) === 'gauge') problems.push(`${match[1]}(${match[2]}): ${match[2]} is a gauge; ${match[1]} needs a counter`);
  }
  return problems;
}
