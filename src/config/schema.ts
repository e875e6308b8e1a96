/**
 * The whole config file, validated with zod. Unknown keys are errors (a typo in a threshold must
 * not silently fall back to a default). Defaults make a config with only `hosts:` usable.
 */
import cron from 'node-cron';
import { z } from 'zod';
import { seconds } from './durations.js';
import { parseLibvirtUri } from '../libvirt/uri.js';
import { isMigrationAddress, normalizeMigrationAddress } from './migration-address.js';
import { haSchema } from './ha-schema.js';
import { maintenanceSchema } from './maintenance-schema.js';
import { migrationSchema } from './migration-schema.js';
import { notificationsSchema } from './notifications-schema.js';
import { apiSchema } from './api-schema.js';
import { policySchema } from './policy-schema.js';
import { powerSchema } from './power-schema.js';

/** True when `zone` is a time zone this Node knows (IANA names, as Intl resolves them). */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const hostNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const hostSchema = z.strictObject({
  /** Name used in logs, metrics labels and the CLI. */
  name: z.string().regex(hostNamePattern, 'a host name of letters, digits, ".", "_" or "-"').describe('Name used in logs, metrics labels and the CLI.'),
  /** libvirt URI as virsh understands it, e.g. qemu+tcp://10.0.0.5/system. */
  uri: z.string().min(1).describe('libvirt URI as virsh understands it, e.g. qemu+tcp://10.0.0.5/system.'),
  /** The host's address on the migration network (the stream's destination when this host is the target). */
  migrationAddress: z
    .string()
    .refine(isMigrationAddress, 'an IPv4 or IPv6 address or a host name (no scheme, port or path), e.g. 10.1.0.5 or kvm1-mig.example.com')
    .optional()
    .describe(
      "The host's address (or host name) on the migration network. As a move's target, its QEMU listens there (VIR_MIGRATE_PARAM_LISTEN_ADDRESS) and the source sends the stream there (VIR_MIGRATE_PARAM_URI tcp://ADDRESS), local disks included; the control connection stays on uri. With migration.tls the host's migration server certificate must name this address. Default: the host part of uri.",
    ),
  /** What the host offers to guests, when it should differ from node info. */
  capacity: z
    .strictObject({
      /** Logical CPUs offered to guests (host CPU utilisation is then computed from its VMs against this). */
      cpuCount: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('Logical CPUs offered to guests (host CPU utilisation is then computed from its VMs against this).'),
      /** Memory offered to guests not backed by hugepages, MiB; used is then the sum of the running and paused VMs' memory (shut-off definitions hold none). */
      memoryMiB: z
        .number()
        .positive()
        .optional()
        .describe(
          "Memory offered to guests not backed by hugepages, MiB; used is then the sum of the running and paused VMs' memory (shut-off definitions hold none).",
        ),
    })
    .optional()
    .describe('What the host offers to guests, when it should differ from node info.'),
  /** vCPUs placed per host CPU at most. */
  cpuOvercommitRatio: z.number().positive().default(4).describe('vCPUs placed per host CPU at most.'),
  /** Guest memory placed per byte of host memory at most (memory is a hard limit: keep 1). */
  memoryOvercommitRatio: z.number().positive().default(1).describe('Guest memory placed per byte of host memory at most (memory is a hard limit: keep 1).'),
  /** The `{address}` of the host's power commands (power.powerOffCommand / powerOnCommand). */
  powerAddress: z
    .string()
    .min(1)
    .refine((v) => !v.startsWith('-'), {
      message: 'starts with "-": as `{address}` in a power command it would be read as an option (e.g. ssh -oProxyCommand=...); give the address itself',
    })
    .optional()
    .describe(
      "What `{address}` stands for in this host's power commands (power.powerOffCommand / powerOnCommand): its BMC's address for IPMI, its MAC address for Wake-on-LAN... Default: the host part of uri.",
    ),
  /** A host in maintenance is drained and never a target. */
  maintenance: z.boolean().default(false).describe('A host in maintenance is drained and never a target.'),
  /** Free-form labels (e.g. rack: a) that policies may use. */
  labels: z.record(z.string(), z.string()).default({}).describe('Free-form labels (e.g. rack: a) that policies may use.'),
});

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z
  .strictObject({
    /** The libvirt hosts to balance. */
    hosts: z.array(hostSchema).min(1, 'at least one host').describe('The libvirt hosts to balance.'),
    /** The control loop. */
    loop: z
      .strictObject({
        /** node-cron expression: six fields (second minute hour day month weekday) or five (from minute: at most once a minute). */
        schedule: z
          .string()
          .refine(
            (expression) => cron.validate(expression),
            'is not a cron expression node-cron accepts: six fields with seconds first ("*/30 * * * * *": every 30 s) or five from minutes ("*/5 * * * *": every 5 min)',
          )
          .default('*/30 * * * * *')
          .describe(
            'When ticks run: a node-cron expression of six fields, seconds first (`*/30 * * * * *`: every 30 s), or five fields from minutes (`*/5 * * * *`: every 5 minutes). /healthz allows three of its longest gaps between ticks.',
          ),
        /** The time zone loop.schedule's hours and days are read in: an IANA name (Europe/Berlin), UTC (default), or local (the system's). */
        timezone: z
          .string()
          .refine(
            (zone) => zone === 'local' || isTimeZone(zone),
            "is not a time zone: give an IANA name such as UTC or Europe/Berlin (see timedatectl list-timezones), or local for the system's",
          )
          .default('UTC')
          .describe(
            "The time zone loop.schedule's hours, days and weekdays are read in: an IANA name such as `Europe/Berlin`, `UTC` (default: the same on every controller of an HA group and across daylight-saving changes), or `local` for the system's zone (TZ, /etc/localtime). `check-config` shows the next run times.",
          ),
        /** Ticks the smoothing window holds. */
        windowSamples: z.number().int().min(1).max(1000).default(10).describe('Ticks the smoothing window holds.'),
        /** Plan and log only, never migrate. */
        dryRun: z.boolean().default(false).describe('Plan and log only, never migrate.'),
      })
      .default({ schedule: '*/30 * * * * *', timezone: 'UTC', windowSamples: 10, dryRun: false })
      .describe('The control loop.'),
    /** Prometheus endpoint. */
    metrics: z
      .strictObject({
        /** host:port for /metrics and /healthz; empty string disables the endpoint. */
        listen: z.string().default('127.0.0.1:9464').describe('host:port for /metrics and /healthz; empty string disables the endpoint.'),
      })
      .default({ listen: '127.0.0.1:9464' })
      .describe('Prometheus endpoint.'),
    /** Journal and state directory; a relative path is taken from the config file's directory. */
    stateDir: z
      .string()
      .min(1)
      .default('/var/lib/virt-balancer')
      .describe("Journal and state directory. A relative path is taken from the config file's directory (as are the TLS files and policy.policyDirs)."),
    /** Log level: fatal, error, warn, info, debug, trace or silent (`--log-level` overrides). */
    log: z
      .strictObject({ level: z.enum(logLevels).default('info').describe('Least severe level written to the log.') })
      .default({ level: 'info' })
      .describe('Log level: fatal, error, warn, info, debug, trace or silent (`--log-level` overrides).'),
    /** Connections to the hosts. */
    libvirt: z
      .strictObject({
        /** Seconds of silence before a keepalive probe; 0 turns probes off. */
        keepaliveIntervalSeconds: seconds().min(0).default(5).describe('Seconds of silence before a keepalive probe; 0 turns probes off.'),
        /** Unanswered probes after which a host is marked down and reconnected. */
        keepaliveCount: z.number().int().min(1).default(5).describe('Unanswered probes after which a host is marked down and reconnected.'),
        /** A libvirt call with no reply after this long fails (the connection stays). */
        callTimeoutSeconds: seconds()
          .positive()
          .default(60)
          .describe(
            'A libvirt call with no reply after this long fails (the connection stays). Not applied to the peer-to-peer migration call, which lasts as long as the migration: that is bounded by migration.deadlineSeconds and watched through job stats.',
          ),
        /** First reconnect delay; doubles up to reconnectMaxDelaySeconds (with jitter). */
        reconnectInitialDelaySeconds: seconds().positive().default(1).describe('First reconnect delay; doubles up to reconnectMaxDelaySeconds (with jitter).'),
        reconnectMaxDelaySeconds: seconds().positive().default(60).describe('Longest delay between reconnect attempts.'),
        /** TLS client files for qemu+tls:// URIs; default libvirt's paths. */
        tls: z
          .strictObject({
            caFile: z.string().optional().describe('CA certificate (PEM); default /etc/pki/CA/cacert.pem.'),
            certFile: z.string().optional().describe('Client certificate (PEM); default /etc/pki/libvirt/clientcert.pem.'),
            keyFile: z.string().optional().describe('Client private key (PEM); default /etc/pki/libvirt/private/clientkey.pem.'),
          })
          .optional()
          .describe("TLS client files for qemu+tls:// URIs; default libvirt's paths."),
      })
      .default({
        keepaliveIntervalSeconds: 5,
        keepaliveCount: 5,
        callTimeoutSeconds: 60,
        reconnectInitialDelaySeconds: 1,
        reconnectMaxDelaySeconds: 60,
      })
      .describe('Connections to the hosts.'),
    /** What moves, where and how: thresholds, policies, technique choice (docs/policies.md). */
    policy: policySchema.default(policySchema.parse({})).describe('What moves, where and how: thresholds, policies, technique choice (docs/policies.md).'),
    /** How moves run: limits, deadlines, technique tunables. */
    migration: migrationSchema.default(migrationSchema.parse({})).describe('How moves run: limits, deadlines, technique tunables.'),
    /** Webhooks for migration and maintenance events (docs/operator-workflow.md, "Notifications: webhooks"). */
    notifications: notificationsSchema
      .default({ webhooks: [] })
      .describe('Webhooks for migration and maintenance events (docs/operator-workflow.md, "Notifications: webhooks").'),
    /** What is done to hosts consolidation emptied: nothing, a command, or node suspend (docs/policies.md). */
    power: powerSchema
      .default(powerSchema.parse({}))
      .describe(
        'What is done to a host consolidation (policy.goal consolidate) emptied: nothing, a power command (IPMI, Wake-on-LAN...) or libvirt node suspend; such a host is standby (not a target, not an alarm) until woken (docs/policies.md, "Power actions and standby").',
      ),
    /** The daemon's authenticated HTTP API (docs/api.md); absent: off. */
    api: apiSchema
      .optional()
      .describe(
        "The daemon's authenticated HTTP API for Terraform, Ansible and scripts: status, plan, recommendations, history, place, approve (docs/api.md, docs/operator-workflow.md); absent: off.",
      ),
    /** What `virt-balancer maintenance` runs on each host of a roll (docs/operator-workflow.md, "Rolling maintenance"). */
    maintenance: maintenanceSchema
      .default(maintenanceSchema.parse({}))
      .describe(
        'What `virt-balancer maintenance` runs on each host of a rolling maintenance: the hook (update, reboot), its timeout, how long to wait for the host to be healthy again, and whether its VMs return (docs/operator-workflow.md, "Rolling maintenance").',
      ),
    /** Active/standby controllers on etcd (docs/ha.md); absent: one controller per state directory. */
    ha: haSchema
      .optional()
      .describe(
        'Active/standby controllers on etcd v3 (docs/ha.md); absent: one controller, and the state directory lock keeps a second `run` on this machine from starting.',
      ),
  })
  .superRefine((config, ctx) => {
    const seenNames = new Map<string, number>();
    config.hosts.forEach((host, index) => {
      const nameAt = seenNames.get(host.name);
      if (nameAt !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', index, 'name'],
          message: `duplicate host name "${host.name}" (also hosts[${nameAt}]); give each host its own name`,
        });
      } else seenNames.set(host.name, index);
      // URIs are compared after parsing (load.ts): spellings of one daemon differ.
    });
    for (const name of Object.keys(config.migration.hostBudgets))
      if (!seenNames.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['migration', 'hostBudgets', name],
          message: `"${name}" is not among hosts (${[...seenNames.keys()].join(', ')}); name a host from hosts[].name`,
        });
    // Where each host receives migration streams: its migrationAddress, else the host part of its
    // URI (what the executor falls back to). Two targets on one address receive each other's streams.
    const streamAddress = (host: (typeof config.hosts)[number]): { key: string; explicit: boolean } | undefined => {
      if (host.migrationAddress !== undefined) return { key: normalizeMigrationAddress(host.migrationAddress), explicit: true };
      try {
        const h = parseLibvirtUri(host.uri).host;
        return h ? { key: normalizeMigrationAddress(h), explicit: false } : undefined;
      } catch {
        return undefined; // the URI's own error is reported where it is checked
      }
    };
    const seenMigrationAddresses = new Map<string, number>();
    config.hosts.forEach((host, index) => {
      const address = streamAddress(host);
      if (!address) return;
      const at = seenMigrationAddresses.get(address.key);
      const other = at === undefined ? undefined : config.hosts[at]!;
      // Only where an operator wrote a migration address: hosts sharing a URI host are checked as daemons.
      if (other && (address.explicit || other.migrationAddress !== undefined)) {
        const whose = other.migrationAddress !== undefined ? 'migration address' : 'address (from its uri; it has no migrationAddress)';
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', index, address.explicit ? 'migrationAddress' : 'uri'],
          message: `"${address.explicit ? host.migrationAddress : host.uri}" receives migration streams at ${address.key}, which is also hosts[${at}] (${other.name})'s ${whose}; give each host its own migrationAddress`,
        });
      } else if (at === undefined) seenMigrationAddresses.set(address.key, index);
    });
    if (config.power.action !== 'none' && config.policy.goal !== 'consolidate') {
      ctx.addIssue({
        code: 'custom',
        path: ['power', 'action'],
        message: `is ${config.power.action}, but policy.goal is ${config.policy.goal}: hosts are powered down only when consolidation empties them; set policy.goal: consolidate, or power.action: none`,
      });
    }
    if (config.power.action !== 'none' && config.power.minAwakeHosts >= config.hosts.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['power', 'minAwakeHosts'],
        message: `is ${config.power.minAwakeHosts} with ${config.hosts.length} host(s): no host could ever be powered down; lower it below the number of hosts, or set power.action: none`,
      });
    }
    if (config.migration.maxPerSourceHost > config.migration.maxConcurrent) {
      ctx.addIssue({
        code: 'custom',
        path: ['migration', 'maxPerSourceHost'],
        message: `is ${config.migration.maxPerSourceHost}, above migration.maxConcurrent (${config.migration.maxConcurrent}); lower it or raise maxConcurrent`,
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type HostConfig = z.infer<typeof hostSchema>;
export type { WebhookConfig } from './notifications-schema.js';
