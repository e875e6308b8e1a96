/**
 * The HTTP API's OpenAPI 3.1 description, built from the zod schemas the server parses with
 * (schemas.ts) and its route table (server.ts), so it says what the daemon accepts. `npm run docs`
 * writes it to docs/openapi.json and docs/api.md; the daemon serves it at GET /v1/openapi.json.
 */
import { z } from 'zod';
import {
  approveAnswerSchema,
  errorSchema,
  historyQuerySchema,
  placeAnswerSchema,
  placeBodySchema,
  recommendationIdSchema,
  recommendationsQuerySchema,
} from './schemas.js';

const json = (schema: z.ZodType, io: 'input' | 'output' = 'output') => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};
const content = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: content({ $ref: '#/components/schemas/Error' }) });
/** The answers every route may give besides its own. */
const common = {
  '401': error('No credentials, or ones the daemon does not accept (api.tokenFile, api.tls.clientCaFile).'),
  '500': error('The daemon failed to answer (logged).'),
};
const queryParameters = (schema: z.ZodObject) =>
  Object.entries((json(schema, 'input') as { properties: Record<string, { description?: string }> }).properties).map(([name, s]) => ({
    name,
    in: 'query',
    required: false,
    description: s.description,
    schema: { ...s, description: undefined },
  }));
const anyJson = (description: string) => ({ description, content: content({ type: 'object' }) });

/** The OpenAPI 3.1 document of the API. */
export function openapiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'virt-balancer daemon API',
      version: '1',
      description:
        "The running daemon (`virt-balancer run` with config `api:`) over HTTP(S): reads of its state, plan, recommendations and journal; `place` for a new VM; approving a recommendation, run by the daemon's own executor and journaled with who approved. Every request authenticates with `Authorization: Bearer <token>` (api.tokenFile) or a client certificate (api.tls.clientCaFile); GETs may be open with api.anonymousReads. Answers are JSON; errors are `{error, message, field?}`.",
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, clientCertificate: { type: 'mutualTLS' } },
      schemas: { Error: json(errorSchema) },
    },
    security: [{ bearer: [] }, { clientCertificate: [] }],
    paths: {
      '/v1/status': {
        get: {
          summary: "Hosts and their VMs with CPU and memory use, observed now (`status --json`), with the daemon's role and last tick.",
          responses: { '200': anyJson('{role, lastTickAt, hosts: [...]}'), ...common },
        },
      },
      '/v1/plan': {
        get: {
          summary: 'What the daemon would move now (`plan --json`), changing nothing.',
          responses: { '200': anyJson('{hosts, moves, skipped, notices, imbalanceBefore, imbalanceAfter, policyErrors, complete, timeouts}'), ...common },
        },
      },
      '/v1/recommendations': {
        get: {
          summary: 'Moves waiting for approval (`recommendations --json`).',
          parameters: queryParameters(recommendationsQuerySchema),
          responses: {
            '200': { description: 'The recommendations, oldest first.', content: content({ type: 'array', items: { type: 'object' } }) },
            '400': error('A bad query parameter (named in `field`).'),
            ...common,
          },
        },
      },
      '/v1/history': {
        get: {
          summary: "The journal's last entries (`history --json`).",
          parameters: queryParameters(historyQuerySchema),
          responses: {
            '200': { description: 'Journal entries, oldest first.', content: content({ type: 'array', items: { type: 'object' } }) },
            '400': error('A bad query parameter (named in `field`).'),
            ...common,
          },
        },
      },
      '/v1/openapi.json': { get: { summary: 'This document.', responses: { '200': anyJson('OpenAPI 3.1'), ...common } } },
      '/v1/place': {
        post: {
          summary: 'The best host for a new VM now, and why every other host was refused (`place --json`). Changes nothing.',
          requestBody: { required: true, content: content(json(placeBodySchema, 'input')) },
          responses: {
            '200': { description: '`host` is null when no host fits.', content: content(json(placeAnswerSchema)) },
            '400': error('A bad field (named in `field`) or a body that is not JSON.'),
            '409': error('vm-name-taken: a VM of that name exists.'),
            '413': error('The body is over api.maxBodyBytes.'),
            '415': error('The body is not Content-Type: application/json.'),
            ...common,
          },
        },
      },
      '/v1/recommendations/{id}/approve': {
        post: {
          summary:
            "Approve one recommendation: judged again on a fresh observation, run by the daemon's executor within the migration budgets, journaled (`approval` entry) with `by`: api:<token name> or cert:<subject>. Answers when the move has ended.",
          parameters: [{ name: 'id', in: 'path', required: true, description: recommendationIdSchema.description, schema: { type: 'string' } }],
          requestBody: { required: false, content: content({ type: 'object', additionalProperties: false }) },
          responses: {
            '200': {
              description: "Each approval's end (`code`: executed, stale, host-unreachable, cannot-start).",
              content: content(json(approveAnswerSchema)),
            },
            '400': error('A bad id or body.'),
            '404': error('recommendation-not-found.'),
            '409': error('recommendation-not-waiting (executed, refused, expired or superseded already).'),
            '413': error('The body is over api.maxBodyBytes.'),
            '503': error('not-leader: this daemon is an HA standby; ask the leader.'),
            ...common,
          },
        },
      },
    },
  };
}
