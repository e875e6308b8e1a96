/**
 * The Prometheus files with promtool (CI installs it; missing is a failure): the scrape config, the
 * alert rules and their unit tests, and every metric the rules use against the catalogue.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { exprProblems, metricsInExpr } from './promql.js';
import { repoRoot, runTool, tool } from './tools.js';

const CONFIG = join(repoRoot, 'deploy/prometheus/prometheus.yml');
const RULES = join(repoRoot, 'deploy/prometheus/rules/virt-balancer.rules.yml');
const RULE_TESTS = join(repoRoot, 'deploy/prometheus/rules/virt-balancer.rules.test.yml');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string; runbook_url?: string };
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe('Prometheus config and alert rules', () => {
  it('promtool check config passes (and loads the rules file)', async () => {
    const result = await runTool(tool('promtool'), ['check', 'config', CONFIG]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 1 rule files found');
    const config = parse(readFileSync(CONFIG, 'utf8')) as { scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    expect(config.scrape_configs.find((c) => c.job_name === 'virt-balancer')?.static_configs[0].targets).toEqual(['127.0.0.1:9464']);
  });

  it('promtool check rules passes for the nine alerts', async () => {
    const result = await runTool(tool('promtool'), ['check', 'rules', RULES]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 9 rules found');
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'VirtBalancerBelowHeadroom',
      'VirtBalancerDown',
      'VirtBalancerHostUnreachable',
      'VirtBalancerImbalancePersisting',
      'VirtBalancerLeaderFlapping',
      'VirtBalancerMigrationFailures',
      'VirtBalancerNoLeader',
      'VirtBalancerPostcopyIncident',
      'VirtBalancerTicksStalled',
    ]);
    for (const rule of rules) {
      expect(['critical', 'warning', 'info']).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(10);
    }
  });

  it('promtool test rules passes, covering every alert', async () => {
    const result = await runTool(tool('promtool'), ['test', 'rules', RULE_TESTS]);
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS/);
    const tested = new Set(
      (parse(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test: { alertname: string }[] }[] }).tests.flatMap((t) =>
        t.alert_rule_test.map((a) => a.alertname),
      ),
    );
    expect([...tested].sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  it('promtool test rules fails when an expectation is wrong (the tests can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vb-promtest-'));
    writeFileSync(join(dir, 'virt-balancer.rules.yml'), readFileSync(RULES, 'utf8'));
    writeFileSync(
      join(dir, 'wrong.test.yml'),
      readFileSync(RULE_TESTS, 'utf8').replace('exp_labels: { severity: warning, host: kvm1 }', 'exp_labels: { severity: warning, host: kvm2 }'),
    );
    const result = await runTool(tool('promtool'), ['test', 'rules', join(dir, 'wrong.test.yml')]);
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toMatch(/FAILED/);
  });

  it("every alert has a runbook_url into docs/troubleshooting.md as installed, at a heading that exists (GitHub's anchors)", () => {
    const doc = readFileSync(join(repoRoot, 'docs/troubleshooting.md'), 'utf8');
    // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    const anchors = new Set(
      [...doc.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
        m[1]
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 _-]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const rule of rules) {
      const url = rule.annotations.runbook_url ?? '';
      expect({ alert: rule.alert, prefix: url.split('#')[0] }).toEqual({ alert: rule.alert, prefix: 'file:/opt/virt-balancer/docs/troubleshooting.md' });
      expect({ alert: rule.alert, anchorExists: anchors.has(url.split('#')[1] ?? '') }).toEqual({ alert: rule.alert, anchorExists: true });
    }
    // The docs are installed where the URLs point.
    expect(readFileSync(join(repoRoot, 'deploy/install.sh'), 'utf8')).toMatch(/cp [^\n]*docs\/troubleshooting\.md[^\n]*"\$opt\/docs\/"/);
  });

  it('every metric the rules use is exported, and counters are only rated', async () => {
    const used = rules.flatMap((r) => metricsInExpr(r.expr));
    expect(new Set(used)).toEqual(
      new Set([
        'up',
        'virt_balancer_last_tick_timestamp_seconds',
        'virt_balancer_host_up',
        'virt_balancer_host_standby',
        'virt_balancer_migrations_total',
        'virt_balancer_postcopy_incidents_total',
        'virt_balancer_cluster_imbalance',
        'virt_balancer_leader',
        'virt_balancer_leadership_changes_total',
        'virt_balancer_headroom_shortfall',
      ]),
    );
    for (const rule of rules) expect({ alert: rule.alert, problems: exprProblems(rule.expr) }).toEqual({ alert: rule.alert, problems: [] });
  });
});
