/**
 * The daemon's HTTP API listener (config `api:`): routing, authentication (auth.ts), limits
 * (connections, body size, slow clients), TLS, JSON errors that name the field, and the request
 * counter. What each route does is the backend's (handlers.ts); this module knows HTTP only.
 */
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { z } from 'zod';
import type { ApiConfig } from '../../config/api-schema.js';
import type { Logger } from '../../log/logger.js';
import type { Metrics } from '../../metrics/catalog.js';
import { parseListen } from '../../metrics/server.js';
import { RequestRefused, type RefusalCode } from '../errors.js';
import { identify, TokenFile } from './auth.js';
import {
  type ApiError,
  approveBodySchema,
  historyQuerySchema,
  issueField,
  type PlaceBody,
  placeBodySchema,
  recommendationIdSchema,
  recommendationsQuerySchema,
} from './schemas.js';

/** What the routes do; the daemon's is handlers.ts, tests pass their own. `by` is the caller's identity, journaled with a write. */
export interface ApiBackend {
  status(): Promise<unknown>;
  plan(): Promise<unknown>;
  recommendations(all: boolean): Promise<unknown>;
  history(limit: number): Promise<unknown>;
  place(body: PlaceBody, by: string): Promise<unknown>;
  approve(id: string, by: string): Promise<unknown>;
  openapi(): unknown;
}

/** A slow client's request (headers and body) must have arrived within this, ms. */
const REQUEST_TIMEOUT_MS = 10_000;
/** A keep-alive connection with no request is closed after this, ms. */
const IDLE_TIMEOUT_MS = 5_000;

/** Which HTTP status a refusal code answers with (the code itself is in the body). */
const REFUSAL_STATUS: Partial<Record<RefusalCode, number>> = {
  'recommendation-not-found': 404,
  'recommendation-not-waiting': 409,
  'job-running': 409,
  'vm-name-taken': 409,
  'not-leader': 503,
  'daemon-not-answering': 503,
  'state-dir': 503,
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.message);
  }
}

interface Route {
  method: 'GET' | 'POST';
  /** The OpenAPI path, also the metric's route label. */
  path: string;
  match: RegExp;
  write: boolean;
  run(ctx: { backend: ApiBackend; params: string[]; query: URLSearchParams; body: () => Promise<unknown>; by: string }): Promise<unknown>;
}

/** Parse `value` with `schema`, or a 400 naming the field. */
function parseOr400<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'id'): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issueField(issue, where);
  throw new HttpError(400, {
    error: 'bad-request',
    field,
    message: `${where === 'body' ? 'field' : where === 'query' ? 'query parameter' : 'path parameter'} ${field}: ${issue.message}`,
  });
}

export const API_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1/status', match: /^\/v1\/status$/, write: false, run: ({ backend }) => backend.status() },
  { method: 'GET', path: '/v1/plan', match: /^\/v1\/plan$/, write: false, run: ({ backend }) => backend.plan() },
  {
    method: 'GET',
    path: '/v1/recommendations',
    match: /^\/v1\/recommendations$/,
    write: false,
    run: ({ backend, query }) => backend.recommendations(parseOr400(recommendationsQuerySchema, Object.fromEntries(query), 'query').all === 'true'),
  },
  {
    method: 'GET',
    path: '/v1/history',
    match: /^\/v1\/history$/,
    write: false,
    run: ({ backend, query }) => backend.history(parseOr400(historyQuerySchema, Object.fromEntries(query), 'query').limit),
  },
  { method: 'GET', path: '/v1/openapi.json', match: /^\/v1\/openapi\.json$/, write: false, run: async ({ backend }) => backend.openapi() },
  {
    method: 'POST',
    path: '/v1/place',
    match: /^\/v1\/place$/,
    write: true,
    run: async ({ backend, body, by }) => backend.place(parseOr400(placeBodySchema, await body(), 'body'), by),
  },
  {
    method: 'POST',
    path: '/v1/recommendations/{id}/approve',
    match: /^\/v1\/recommendations\/([^/]+)\/approve$/,
    write: true,
    run: async ({ backend, params, body, by }) => {
      parseOr400(approveBodySchema, (await body()) ?? {}, 'body');
      let raw: string;
      try {
        raw = decodeURIComponent(params[0]);
      } catch {
        throw new HttpError(400, { error: 'bad-request', field: 'id', message: 'path parameter id: not valid percent-encoding' });
      }
      const id = parseOr400(recommendationIdSchema, raw, 'id');
      return backend.approve(id, by);
    },
  },
];

/** Read a JSON body of at most `maxBytes` (413 past it, 415 when not JSON-typed, 400 when not JSON). Empty: undefined. */
async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = () => new HttpError(413, { error: 'too-large', message: `the body is over ${maxBytes} bytes (api.maxBodyBytes)` });
  if (declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  if (length === 0) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json')
    throw new HttpError(415, { error: 'unsupported-media-type', message: `the body is ${type || 'untyped'}; send JSON with Content-Type: application/json` });
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (error) {
    throw new HttpError(400, { error: 'bad-request', field: 'body', message: `the body is not JSON: ${(error as Error).message}` });
  }
}

export interface ApiServer {
  /** host:port it listens on (the port the system chose when api.listen's is 0). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Listen on `api.listen` (HTTPS with `api.tls`) and serve `backend`'s routes.
 * @throws Error naming the api field when a TLS or token file cannot be read, or the address is taken.
 */
export async function startApiServer(api: ApiConfig, backend: ApiBackend, deps: { logger: Logger; metrics?: Metrics }): Promise<ApiServer> {
  const { logger, metrics } = deps;
  const { host, port } = parseListen(api.listen);
  const tokens = api.tokenFile === undefined ? undefined : new TokenFile(api.tokenFile);
  try {
    await tokens?.load();
  } catch (error) {
    throw new Error(`api.tokenFile: ${(error as Error).message}`);
  }
  const clientCertificates = api.tls?.clientCaFile !== undefined;
  const read = (file: string, field: string) =>
    readFile(file).catch((error: Error) => {
      throw new Error(`api.tls.${field} ${file}: ${error.message}`);
    });
  const tls = api.tls
    ? {
        cert: await read(api.tls.certFile, 'certFile'),
        key: await read(api.tls.keyFile, 'keyFile'),
        ...(api.tls.clientCaFile ? { ca: await read(api.tls.clientCaFile, 'clientCaFile'), requestCert: true, rejectUnauthorized: false } : {}),
      }
    : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://api');
    const routes = API_ROUTES.filter((r) => r.match.test(url.pathname));
    const route = routes.find((r) => r.method === req.method);
    let label = route?.path ?? routes[0]?.path ?? 'unknown';
    const answer = (status: number, body: unknown) => {
      metrics?.apiRequestsTotal.inc({ route: label, code: String(status) });
      const text = `${JSON.stringify(body)}\n`;
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        ...(status === 401 ? { 'www-authenticate': 'Bearer realm="virt-balancer"' } : {}),
        ...(status === 405 ? { allow: routes.map((r) => r.method).join(', ') } : {}),
        // A body refused unread (too large, or sent without credentials) is not drained: the connection ends with the answer.
        ...(status === 413 || status === 401 ? { connection: 'close' } : {}),
      });
      res.end(text);
    };
    try {
      // Authentication first, before a body is read: an unauthenticated client gets nothing else.
      // A credential presented is checked even where anonymous reads are allowed: a wrong one is 401, never anonymous.
      const anonymousOk = api.anonymousReads && (req.method === 'GET' || req.method === 'HEAD');
      // Read again only when a token is presented: anonymous polls of a broken file would flood the log.
      const problem = req.headers.authorization !== undefined ? await tokens?.refresh() : undefined;
      if (problem) logger.error({ file: api.tokenFile, err: problem }, 'api.tokenFile does not read: no token is accepted until it is fixed');
      const who = identify(req, tokens, clientCertificates);
      let by = 'anonymous';
      if ('by' in who) by = who.by;
      else if (!(anonymousOk && who.none)) {
        label = route?.path ?? 'unknown';
        throw new HttpError(401, { error: 'unauthorized', message: who.refused });
      }
      if (routes.length === 0) {
        label = 'unknown';
        throw new HttpError(404, { error: 'not-found', message: `no route ${url.pathname}; see /v1/openapi.json (docs/api.md)` });
      }
      if (!route)
        throw new HttpError(405, { error: 'method-not-allowed', message: `${req.method} ${url.pathname}: use ${routes.map((r) => r.method).join(' or ')}` });
      const params = route.match.exec(url.pathname)!.slice(1);
      let bodyRead: Promise<unknown> | undefined;
      const body = () => (bodyRead ??= readJsonBody(req, api.maxBodyBytes));
      if (route.write) logger.info({ route: route.path, by, params }, 'operator request over the HTTP API');
      const result = await route.run({ backend, params, query: url.searchParams, body, by });
      answer(200, result);
    } catch (error) {
      if (error instanceof HttpError) {
        answer(error.status, error.body);
      } else if (error instanceof RequestRefused) answer(REFUSAL_STATUS[error.code] ?? 422, { error: error.code, message: error.message });
      else {
        logger.error({ err: (error as Error).message, url: url.pathname }, 'API request failed');
        answer(500, { error: 'internal', message: (error as Error).message });
      }
    }
  };

  const options = {
    requestTimeout: REQUEST_TIMEOUT_MS,
    headersTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: IDLE_TIMEOUT_MS,
    connectionsCheckingInterval: 1000,
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => void handle(req, res);
  const server: Server = tls ? createHttpsServer({ ...options, ...tls }, listener) : createHttpServer(options, listener);
  // More connections than this are closed as they come (no request read): the API cannot take the daemon's descriptors.
  server.maxConnections = api.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`api.listen ${api.listen}: ${error.message}; give a free host:port`)));
    server.listen(port, host, () => resolve());
  });
  server.on('error', (error) => logger.error({ err: error.message }, 'API listener error'));
  server.on('tlsClientError', (error) => logger.debug({ err: error.message }, 'API TLS handshake failed'));
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : api.listen;
  return {
    address,
    close: async () => {
      // Requests being served (an approve: a migration) are cut; the migration itself is left to libvirt, as at any stop.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
