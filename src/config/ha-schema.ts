/**
 * `ha:` — active/standby controllers on etcd v3 (docs/ha.md). Absent means one controller,
 * guarded only by the state directory's lock.
 */
import { z } from 'zod';
import { seconds } from './durations.js';

const endpoint = z.string().regex(/^https?:\/\/[^/\s]+$/, 'an etcd client URL, http://host:port or https://host:port (no path), e.g. https://10.0.0.11:2379');

export const haSchema = z
  .strictObject({
    /** etcd client URLs, every member (the client fails over between them). */
    endpoints: z
      .array(endpoint)
      .min(1, 'at least one etcd endpoint')
      .describe('etcd client URLs, every member (the client fails over between them), e.g. https://10.0.0.11:2379.'),
    /** Key prefix of this cluster's election and shared history; controllers of one cluster share it. */
    electionName: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_./-]*$/, 'letters, digits, ".", "_", "/" or "-"')
      .default('virt-balancer')
      .describe("Key prefix of this cluster's election and shared history in etcd; the controllers of one cluster share it, different clusters must not."),
    /** Lease TTL: a leader that stops renewing loses leadership this long after its last renewal. */
    leaseTtlSeconds: seconds()
      .int()
      .min(2)
      .max(300)
      .default(10)
      .describe(
        'etcd lease TTL, s: a leader that stops renewing (crash, pause, partition) loses leadership this long after its last renewal; a standby takes over within about this plus retryIntervalSeconds.',
      ),
    /** How often a standby campaigns and a leader re-checks its key. */
    retryIntervalSeconds: seconds().positive().default(1).describe('How often a standby campaigns and a leader re-checks that it still holds its key, s.'),
    /** Deadline of one etcd call (a call without quorum fails after this). */
    callTimeoutSeconds: seconds()
      .positive()
      .default(3)
      .describe('Deadline of one etcd call, s; without quorum a call fails after this and no migration starts.'),
    /** This controller's name in the election (default: hostname and pid). */
    memberName: z.string().min(1).optional().describe("This controller's name in the election and in logs (default: hostname:pid)."),
    /** TLS client files for https:// endpoints. */
    tls: z
      .strictObject({
        caFile: z.string().min(1).describe('CA certificate that signed the etcd members (PEM).'),
        certFile: z.string().min(1).optional().describe('Client certificate (PEM), when etcd requires client certificates.'),
        keyFile: z.string().min(1).optional().describe('Client private key (PEM), with certFile.'),
      })
      .optional()
      .describe('TLS client files for https:// endpoints.'),
    /** Outcomes kept in etcd for a new leader (cooldowns, recent moves and failures, link bandwidths). */
    historyEntries: z
      .number()
      .int()
      .min(10)
      .max(5000)
      .default(200)
      .describe('Migration outcomes kept in etcd for the next leader (cooldowns, recent moves and failures, link bandwidths); older ones are dropped.'),
  })
  .superRefine((ha, ctx) => {
    if (ha.tls && (ha.tls.certFile === undefined) !== (ha.tls.keyFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'certFile and keyFile go together: give both (client certificate auth) or neither' });
    }
    const https = ha.endpoints.filter((e) => e.startsWith('https://')).length;
    if (https > 0 && https < ha.endpoints.length)
      ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'mixes http:// and https://; use one scheme for every member' });
    if (https > 0 && !ha.tls)
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'https:// endpoints need tls.caFile (the CA that signed the etcd members)' });
    if (ha.retryIntervalSeconds * 2 > ha.leaseTtlSeconds)
      ctx.addIssue({
        code: 'custom',
        path: ['retryIntervalSeconds'],
        message: `is ${ha.retryIntervalSeconds}, more than half of leaseTtlSeconds (${ha.leaseTtlSeconds}); a leader must re-check its key well within its lease`,
      });
  });

export type HaConfig = z.infer<typeof haSchema>;
