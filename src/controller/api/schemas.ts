/**
 * The HTTP API's inputs and answers as zod schemas: requests are parsed with them (a bad field is
 * a 400 naming it) and the OpenAPI description (docs/openapi.json, docs/api.md) is generated from
 * them (openapi.ts), so the description cannot drift from what the daemon accepts.
 */
import { z } from 'zod';

const name = z.string().min(1).max(256);

/** POST /v1/place: the new VM, as `virt-balancer place` takes it. */
export const placeBodySchema = z.strictObject({
  name: name.default('new-vm').describe('Name of the new VM (as policies see it); a VM of that name must not exist.'),
  vcpus: z.number().int().min(1).max(4096).describe('vCPUs of the new VM.'),
  memoryMib: z.number().int().min(1).describe('Memory of the new VM, MiB.'),
  cpuPercent: z.number().min(0).max(100).default(50).describe('Expected CPU use of the new VM, percent of its vCPUs (a new VM has no history).'),
  labels: z.record(z.string(), z.string()).default({}).describe('Host labels the VM requires (hosts[].labels).'),
  affinityGroup: name.optional().describe('Affinity or anti-affinity group the VM will belong to (policy.affinityGroups, or group:/affinity: tags).'),
  cpuModel: name.optional().describe('Guest CPU model; hosts of another model need every CPU feature of a host of this model.'),
});
export type PlaceBody = z.infer<typeof placeBodySchema>;

/** POST /v1/recommendations/{id}/approve: nothing needed; an empty body or {} is fine. */
export const approveBodySchema = z.strictObject({});

/** GET /v1/history's query. */
export const historyQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).default(50).describe('The last N journal entries.'),
});

/** GET /v1/recommendations's query. */
export const recommendationsQuerySchema = z.strictObject({
  all: z.enum(['true', 'false']).default('false').describe('true: also executed, refused, expired and superseded ones.'),
});

/** A recommendation's id in a path. */
export const recommendationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,256}$/, 'a recommendation id (letters, digits, "_", ".", ":", "-")')
  .describe('The id `GET /v1/recommendations` lists.');

/** Every error answer: a code to branch on, a sentence for the person, and the field when one is at fault. */
export const errorSchema = z.object({
  error: z
    .string()
    .describe(
      'A code: unauthorized, bad-request, not-found, method-not-allowed, too-large, unsupported-media-type, internal, or a refusal code (docs/api.md).',
    ),
  message: z.string().describe('What is wrong and what to do.'),
  field: z.string().optional().describe('The field at fault (dotted path in the body or query), for bad-request.'),
});
export type ApiError = z.infer<typeof errorSchema>;

/** One approval's end, as `approve --json` reports it. */
export const approvalReportSchema = z.object({
  id: z.string(),
  vm: z.string(),
  from: z.string(),
  to: z.string(),
  code: z
    .enum(['executed', 'stale', 'host-unreachable', 'cannot-start'])
    .describe('executed: ran (outcome says how); stale: refused for good; the others: still waiting.'),
  outcome: z.string().optional().describe("executed: the migration's outcome (completed, failed, aborted...)."),
  detail: z.string().optional(),
  incident: z.string().optional(),
});

/** POST /v1/recommendations/{id}/approve's answer. */
export const approveAnswerSchema = z.object({
  by: z.string().describe('Who approved, as journaled: api:<token name> or cert:<client certificate subject>.'),
  reports: z.array(approvalReportSchema),
});

/** POST /v1/place's answer (`place --json`). */
export const placeAnswerSchema = z.object({
  host: z.string().nullable().describe('The best host, or null when none fits.'),
  hosts: z.array(
    z.object({
      host: z.string(),
      accepted: z.boolean(),
      score: z.number().optional(),
      reason: z.string().optional().describe('Why the host was refused.'),
      cpuAfterPercent: z.number().nullable(),
      memoryAfterPercent: z.number().nullable(),
    }),
  ),
});

/** The field a zod issue is about, as a dotted path ("" for the whole body). */
export function issueField(issue: z.core.$ZodIssue, where: 'body' | 'query' | 'id'): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return [path, ...issue.keys].filter(Boolean).join('.');
  return path || where;
}
