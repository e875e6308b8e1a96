/** The `api:` section of the config: the daemon's authenticated HTTP API (docs/operator-workflow.md, "HTTP API"; docs/api.md). */
import { z } from 'zod';

export const apiSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^(?:\[[^\]]+\]|[^:]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:9465 (IPv6 in brackets)')
      .refine((l) => {
        const port = Number(l.slice(l.lastIndexOf(':') + 1));
        return port >= 1 && port <= 65535;
      }, 'the port must be in 1..65535, e.g. 127.0.0.1:9465')
      .describe('host:port the API listens on (its own listener, beside metrics.listen).'),
    tokenFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'File of bearer tokens, one `name:token` a line (`#` comments and blank lines ignored; a token at least 16 characters). Only its owner may read it (mode 0600). A request sends `Authorization: Bearer <token>`; `name` is journaled as who made a write (`api:<name>`). Read again when it changes.',
      ),
    tls: z
      .strictObject({
        certFile: z.string().min(1).describe('Server certificate (PEM).'),
        keyFile: z.string().min(1).describe('Server private key (PEM).'),
        clientCaFile: z
          .string()
          .min(1)
          .optional()
          .describe("CA (PEM) whose client certificates authenticate a request; who made a write is journaled as `cert:<the certificate's subject>`."),
      })
      .optional()
      .describe('Serve HTTPS with these files; absent: plain HTTP (keep it on loopback then).'),
    anonymousReads: z
      .boolean()
      .default(false)
      .describe(
        'Let GET requests (status, plan, recommendations, history) in without authentication; writes always need it. A GET that presents a wrong token or certificate is still refused (401).',
      ),
    maxConnections: z.number().int().min(1).max(1024).default(16).describe('Open connections at most; more are closed unanswered.'),
    maxBodyBytes: z.number().int().min(1024).max(1048576).default(65536).describe('A request body longer than this is refused with 413.'),
  })
  .refine((api) => api.tokenFile !== undefined || api.tls?.clientCaFile !== undefined, {
    message: 'give api.tokenFile or api.tls.clientCaFile: the API never takes writes without authentication',
    path: ['tokenFile'],
  });

export type ApiConfig = z.infer<typeof apiSchema>;
