/**
 * Every metric virt-balancer exports, in one place, so the Grafana dashboard, the alert rules and
 * the docs can be checked against this list. Names follow Prometheus conventions: unit suffixes
 * (`_seconds`, `_bytes`, `_ratio`), `_total` for counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo } from './build-info.js';

const DURATION_BUCKETS_SECONDS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const DOWNTIME_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5];
const TICK_BUCKETS_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];
const ERROR_RATIO_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5];

export function createMetrics(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
  return withBuildInfo(createMetricsUnset(registry, options));
}

function createMetricsUnset(registry: Registry, options: { defaultMetrics?: boolean }) {
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'virt_balancer_' });
  const r = [registry];
  return {
    registry,
    // Read side (control loop).
    hostUp: new Gauge({
      name: 'virt_balancer_host_up',
      help: '1 when the controller reaches the host through libvirt, else 0',
      labelNames: ['host'],
      registers: r,
    }),
    hostCpuUtilization: new Gauge({
      name: 'virt_balancer_host_cpu_utilization_ratio',
      help: 'Host CPU utilisation (0..1), smoothed over the sampling window',
      labelNames: ['host'],
      registers: r,
    }),
    hostMemoryUsedBytes: new Gauge({ name: 'virt_balancer_host_memory_used_bytes', help: 'Host memory in use', labelNames: ['host'], registers: r }),
    hostMemoryTotalBytes: new Gauge({
      name: 'virt_balancer_host_memory_total_bytes',
      help: 'Host memory offered to guests',
      labelNames: ['host'],
      registers: r,
    }),
    hostVms: new Gauge({ name: 'virt_balancer_host_vms', help: 'VMs running on the host', labelNames: ['host'], registers: r }),
    vmCpuUtilization: new Gauge({
      name: 'virt_balancer_vm_cpu_utilization_ratio',
      help: 'VM CPU use as a share of its vCPUs (0..1)',
      labelNames: ['host', 'vm'],
      registers: r,
    }),
    vmMemoryBytes: new Gauge({ name: 'virt_balancer_vm_memory_bytes', help: 'VM current memory', labelNames: ['host', 'vm'], registers: r }),
    headroomShortfall: new Gauge({
      name: 'virt_balancer_headroom_shortfall',
      help: '1 while the cluster lacks the failover headroom policy.headroom asks (the VMs of a failed host would not fit on the rest), 0 while it has it or when policy.headroom.hostFailures is 0',
      registers: r,
    }),
    buildInfo: new Gauge({
      name: 'virt_balancer_build_info',
      help: 'Always 1; the labels say which build runs: package version, commit (VIRT_BALANCER_COMMIT, else unknown) and Node.js version',
      labelNames: ['version', 'commit', 'node_version'],
      registers: r,
    }),
    clusterImbalance: new Gauge({
      name: 'virt_balancer_cluster_imbalance',
      help: 'Standard deviation of host CPU utilisation ratios (0 = perfectly balanced)',
      registers: r,
    }),
    tickDurationSeconds: new Histogram({
      name: 'virt_balancer_tick_duration_seconds',
      help: 'Duration of one control-loop tick (collect, plan, admit)',
      buckets: TICK_BUCKETS_SECONDS,
      registers: r,
    }),
    ticksTotal: new Counter({ name: 'virt_balancer_ticks_total', help: 'Control-loop ticks by outcome', labelNames: ['outcome'], registers: r }),
    lastTickTimestampSeconds: new Gauge({ name: 'virt_balancer_last_tick_timestamp_seconds', help: 'Unix time the last tick finished', registers: r }),
    libvirtErrorsTotal: new Counter({
      name: 'virt_balancer_libvirt_errors_total',
      help: 'libvirt errors by host and libvirt error code name',
      labelNames: ['host', 'code'],
      registers: r,
    }),
    // Planning.
    plannedMovesTotal: new Counter({
      name: 'virt_balancer_planned_moves_total',
      help: 'Moves the planner proposed, by technique',
      labelNames: ['technique'],
      registers: r,
    }),
    recommendationsWaiting: new Gauge({
      name: 'virt_balancer_recommendations_waiting',
      help: 'Recommendations waiting for approval (policy.automation manual or partial), by kind (must-move, balancing)',
      labelNames: ['kind'],
      registers: r,
    }),
    recommendationsTotal: new Counter({
      name: 'virt_balancer_recommendations_total',
      help: 'Recommendations by how they ended: created, executed, refused (stale at approval), expired, superseded',
      labelNames: ['event'],
      registers: r,
    }),
    powerActionsTotal: new Counter({
      name: 'virt_balancer_power_actions_total',
      help: 'Power actions on hosts consolidation emptied (config power:), by action (power-off, power-on) and outcome (recommended, requested, ran, done, failed)',
      labelNames: ['action', 'outcome'],
      registers: r,
    }),
    hostsStandby: new Gauge({
      name: 'virt_balancer_hosts_standby',
      help: 'Hosts in standby (powered down or suspended by a power action; not targets, not alarms)',
      registers: r,
    }),
    hostStandby: new Gauge({
      name: 'virt_balancer_host_standby',
      help: '1 while a power action has the host down on purpose (being powered down, standby, being woken): its host_up 0 is expected, not an alarm',
      labelNames: ['host'],
      registers: r,
    }),
    policyErrorsTotal: new Counter({
      name: 'virt_balancer_policy_errors_total',
      help: 'Policy calls that threw, timed out or returned garbage',
      labelNames: ['policy'],
      registers: r,
    }),
    policyTimeoutsTotal: new Counter({
      name: 'virt_balancer_policy_timeouts_total',
      help: 'Policy calls that ran past policy.policyTimeoutMs (the tick planned without their answer)',
      labelNames: ['policy', 'point'],
      registers: r,
    }),
    policySecondsTotal: new Counter({
      name: 'virt_balancer_policy_seconds_total',
      help: 'Time spent in policy extension points (select, filter, score, technique) while planning',
      labelNames: ['policy', 'point'],
      registers: r,
    }),
    // Acting (executor).
    migrationsTotal: new Counter({
      name: 'virt_balancer_migrations_total',
      help: 'Finished migrations by technique, outcome (completed, aborted, failed) and whether the stream was encrypted (tls)',
      labelNames: ['technique', 'outcome', 'tls'],
      registers: r,
    }),
    migrationDurationSeconds: new Histogram({
      name: 'virt_balancer_migration_duration_seconds',
      help: 'Total migration time by technique and tls',
      labelNames: ['technique', 'tls'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers: r,
    }),
    migrationDowntimeSeconds: new Histogram({
      name: 'virt_balancer_migration_downtime_seconds',
      help: 'Guest downtime during migration by technique and tls',
      labelNames: ['technique', 'tls'],
      buckets: DOWNTIME_BUCKETS_SECONDS,
      registers: r,
    }),
    migrationBytesTotal: new Counter({
      name: 'virt_balancer_migration_bytes_total',
      help: 'Bytes sent by migrations, by technique and tls',
      labelNames: ['technique', 'tls'],
      registers: r,
    }),
    migrationsInFlight: new Gauge({ name: 'virt_balancer_migrations_in_flight', help: 'Migrations running now', registers: r }),
    migrationsQueued: new Gauge({
      name: 'virt_balancer_migrations_queued',
      help: 'Planned moves waiting for a slot (over a migration budget: docs/scheduling.md); each starts when a running migration ends',
      registers: r,
    }),
    linkBandwidthBytesPerSecond: new Gauge({
      name: 'virt_balancer_link_bandwidth_bytes_per_second',
      help: 'Median throughput of recent completed migrations from one host to another (what the cost model assumes for that pair)',
      labelNames: ['from', 'to'],
      registers: r,
    }),
    migrationPredictionErrorRatio: new Histogram({
      name: 'virt_balancer_migration_prediction_error_ratio',
      help: '|actual - predicted| / actual for a completed migration, by technique and quantity (total_time, downtime, bytes)',
      labelNames: ['technique', 'quantity'],
      buckets: ERROR_RATIO_BUCKETS,
      registers: r,
    }),
    journalWriteFailuresTotal: new Counter({
      name: 'virt_balancer_journal_write_failures_total',
      help: 'Journal writes that failed (full or read-only filesystem, permissions); each attempt counts',
      registers: r,
    }),
    hostSlowTicksTotal: new Counter({
      name: 'virt_balancer_host_slow_ticks_total',
      help: 'Ticks that went on without a host whose libvirt reads did not finish within the per-host bound (driver busy or hung while the connection answers)',
      labelNames: ['host'],
      registers: r,
    }),
    journalShortWritesTotal: new Counter({
      name: 'virt_balancer_journal_short_writes_total',
      help: 'Journal writes that put only part of an entry on disk (full filesystem); the part is removed and the entry retried; also counted in journal_write_failures_total',
      registers: r,
    }),
    journalRotationsTotal: new Counter({
      name: 'virt_balancer_journal_rotations_total',
      help: 'Times journal.jsonl passed its size bound and was rotated to journal.1.jsonl, carrying over what planning needs',
      registers: r,
    }),
    journalWritable: new Gauge({
      name: 'virt_balancer_journal_writable',
      help: '1 while every journal entry is on disk, 0 while some cannot be written (no migration starts then)',
      registers: r,
    }),
    webhookDeliveriesTotal: new Counter({
      name: 'virt_balancer_webhook_deliveries_total',
      help: 'Webhook notifications by event and outcome (delivered, failed after its retries, dropped when too many wait)',
      labelNames: ['event', 'outcome'],
      registers: r,
    }),
    apiRequestsTotal: new Counter({
      name: 'virt_balancer_api_requests_total',
      help: 'HTTP API requests (config api:) by route (its OpenAPI path, or "unknown") and status code',
      labelNames: ['route', 'code'],
      registers: r,
    }),
    // High availability (docs/ha.md).
    leader: new Gauge({
      name: 'virt_balancer_leader',
      help: '1 while this controller leads (plans and migrates), 0 while standby; without ha: always 1',
      registers: r,
    }),
    leadershipChangesTotal: new Counter({
      name: 'virt_balancer_leadership_changes_total',
      help: 'Times this controller became leader or stepped down, by the role it changed to',
      labelNames: ['to'],
      registers: r,
    }),
    fencingRefusalsTotal: new Counter({
      name: 'virt_balancer_fencing_refusals_total',
      help: 'Leader writes (migration starts, outcome records) refused because etcd did not confirm this controller still leads',
      registers: r,
    }),
    postcopyIncidentsTotal: new Counter({
      name: 'virt_balancer_postcopy_incidents_total',
      help: 'Post-copy migrations that failed after the switch (VM state needs attention)',
      registers: r,
    }),
    // Rolling maintenance (`virt-balancer maintenance`, served by that command while it runs).
    maintenanceRollHost: new Gauge({
      name: 'virt_balancer_maintenance_roll_host',
      help: 'Position (1 = first) in the rolling maintenance of the host being worked on now; 0 when no step runs',
      registers: r,
    }),
    maintenanceRollHosts: new Gauge({ name: 'virt_balancer_maintenance_roll_hosts', help: 'Hosts in the rolling maintenance under way', registers: r }),
    maintenanceRollStep: new Gauge({
      name: 'virt_balancer_maintenance_roll_step',
      help: 'Rolling maintenance: 1 for the step running now (drain, hook, healthy, return), 0 for the others',
      labelNames: ['step'],
      registers: r,
    }),
    maintenanceStepsTotal: new Counter({
      name: 'virt_balancer_maintenance_steps_total',
      help: 'Rolling maintenance steps ended, by step and outcome (done, failed)',
      labelNames: ['step', 'outcome'],
      registers: r,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The metrics with the build's identity set (virt_balancer_build_info 1). */
function withBuildInfo(metrics: ReturnType<typeof createMetricsUnset>): ReturnType<typeof createMetricsUnset> {
  const b = buildInfo();
  metrics.buildInfo.set({ version: b.version, commit: b.commit, node_version: b.nodeVersion }, 1);
  return metrics;
}

/** Names of all virt-balancer metrics (without the default process metrics). */
export function metricNames(metrics: Metrics): string[] {
  return Object.values(metrics)
    .filter((m): m is Gauge | Counter | Histogram => m instanceof Gauge || m instanceof Counter || m instanceof Histogram)
    .map((m) => (m as unknown as { name: string }).name);
}
