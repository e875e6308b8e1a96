/**
 * The daemon's HTTP API (controller/api/server.ts, auth.ts) with a real HTTP client (fetch, and
 * node:https for client certificates) against a backend that records what reached it: writes and
 * reads without credentials or with a wrong token are refused 401 before the backend sees them,
 * an oversized body 413, a bad field 400 naming it, refusals keep their code, the token file is
 * read again when it changes, connections past the limit are closed, a client certificate of the
 * configured CA authenticates (its subject is who), every credential presented must be valid (a valid
 * certificate does not carry a wrong token, nor anonymousReads a wrong one), and every request is counted by route and code.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiSchema } from '../../../src/config/api-schema.js';
import { parseTokenFile } from '../../../src/controller/api/auth.js';
import { openapiDocument } from '../../../src/controller/api/openapi.js';
import { API_ROUTES, type ApiBackend, type ApiServer, startApiServer } from '../../../src/controller/api/server.js';
import { RequestRefused } from '../../../src/controller/errors.js';
import { checkConfigFile } from '../../../src/controller/workflows/check-config.js';
import { createLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';

const logger = createLogger({ level: 'silent' });
const TOKEN = 'ops-token-0123456789abcdef';
let dir: string;
let tokenFile: string;
let server: ApiServer | undefined;
let calls: { op: string; args: unknown[] }[];

const backend: ApiBackend = {
  status: async () => (calls.push({ op: 'status', args: [] }), { hosts: [] }),
  plan: async () => (calls.push({ op: 'plan', args: [] }), { moves: [] }),
  recommendations: async (all) => (calls.push({ op: 'recommendations', args: [all] }), []),
  history: async (limit) => (calls.push({ op: 'history', args: [limit] }), []),
  place: async (body, by) => (calls.push({ op: 'place', args: [body, by] }), { host: 'kvm1', hosts: [] }),
  approve: async (id, by) => {
    calls.push({ op: 'approve', args: [id, by] });
    if (id === 'gone') throw new RequestRefused('recommendation-not-found', 'no recommendation "gone"');
    if (id === 'done') throw new RequestRefused('recommendation-not-waiting', 'it is already executed');
    if (id === 'standby') throw new RequestRefused('not-leader', 'this controller is a standby (ha:)');
    return { by, reports: [] };
  },
  openapi: () => openapiDocument(),
};

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

async function start(api: Record<string, unknown> = {}, metrics = createMetrics(undefined, { defaultMetrics: false })) {
  const config = apiSchema.parse({ listen: `127.0.0.1:${await freePort()}`, tokenFile, ...api });
  server = await startApiServer(config, backend, { logger, metrics });
  return { base: `http://${server.address}`, metrics };
}

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const jsonHeaders = (token?: string) => ({ 'content-type': 'application/json', ...(token === undefined ? {} : auth(token)) });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-api-'));
  tokenFile = join(dir, 'tokens');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('HTTP API authentication', () => {
  beforeAll(() => writeFileSync(tokenFile, `# who:token\nops:${TOKEN}\n\nci:ci-token-0123456789abcdef\n`, { mode: 0o600 }));

  it('refuses writes without credentials (401, WWW-Authenticate) and the backend never sees them', async () => {
    calls = [];
    const { base } = await start();
    const place = await fetch(`${base}/v1/place`, { method: 'POST', headers: jsonHeaders(), body: JSON.stringify({ vcpus: 1, memoryMib: 128 }) });
    expect(place.status).toBe(401);
    expect(place.headers.get('www-authenticate')).toBe('Bearer realm="virt-balancer"');
    expect(await place.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('Authorization: Bearer') });
    const approve = await fetch(`${base}/v1/recommendations/r1/approve`, { method: 'POST' });
    expect(approve.status).toBe(401);
    expect(calls).toEqual([]);
  });

  it('refuses a wrong token, a malformed header and reads without credentials', async () => {
    calls = [];
    const { base } = await start();
    const wrong = await fetch(`${base}/v1/recommendations/r1/approve`, { method: 'POST', headers: auth('not-the-token-0123456789') });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).message).toBe('the bearer token is not one of api.tokenFile');
    // A prefix of a real token is not it.
    expect((await fetch(`${base}/v1/status`, { headers: auth(TOKEN.slice(0, -1)) })).status).toBe(401);
    expect((await fetch(`${base}/v1/status`, { headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
    expect((await fetch(`${base}/v1/status`)).status).toBe(401);
    expect(calls).toEqual([]);
  });

  it('refuses two Authorization headers, even when the first holds the right token (a proxy may read the other)', async () => {
    calls = [];
    const { base } = await start();
    const status = await new Promise<{ status: number; body: { message: string } }>((resolve, reject) => {
      const req = httpRequest(
        `${base}/v1/status`,
        { headers: ['host', new URL(base).host, 'authorization', `Bearer ${TOKEN}`, 'authorization', 'Bearer not-the-token-0123456789'] },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toEqual({ status: 401, body: { error: 'unauthorized', message: 'two Authorization headers were sent: send one' } });
    expect(calls).toEqual([]);
  });

  it('serves a request with the right token and says who made it (api:<name>)', async () => {
    calls = [];
    const { base } = await start();
    const approved = await fetch(`${base}/v1/recommendations/r1/approve`, { method: 'POST', headers: auth('ci-token-0123456789abcdef') });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toEqual({ by: 'api:ci', reports: [] });
    expect(calls).toEqual([{ op: 'approve', args: ['r1', 'api:ci'] }]);
  });

  it('with anonymousReads lets GETs in and still refuses writes', async () => {
    calls = [];
    const { base } = await start({ anonymousReads: true });
    expect((await fetch(`${base}/v1/status`)).status).toBe(200);
    expect((await fetch(`${base}/v1/place`, { method: 'POST', headers: jsonHeaders(), body: '{"vcpus":1,"memoryMib":1}' })).status).toBe(401);
    expect(calls.map((c) => c.op)).toEqual(['status']);
  });

  it('with anonymousReads a GET that presents a wrong token or a malformed header is refused, not served anonymously', async () => {
    calls = [];
    const { base } = await start({ anonymousReads: true });
    const wrong = await fetch(`${base}/v1/status`, { headers: auth('not-the-token-0123456789') });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).message).toBe('the bearer token is not one of api.tokenFile');
    expect((await fetch(`${base}/v1/status`, { headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
    expect((await fetch(`${base}/v1/status`, { headers: auth() })).status).toBe(200);
    expect(calls.map((c) => c.op)).toEqual(['status']);
  });

  it('reads the token file again when it changes: a revoked token is refused, a new one accepted', async () => {
    const rotating = join(dir, 'rotating');
    writeFileSync(rotating, `old:${'o'.repeat(20)}\n`, { mode: 0o600 });
    const { base } = await start({ tokenFile: rotating });
    expect((await fetch(`${base}/v1/status`, { headers: auth('o'.repeat(20)) })).status).toBe(200);
    writeFileSync(rotating, `new:${'n'.repeat(24)}\n`);
    expect((await fetch(`${base}/v1/status`, { headers: auth('o'.repeat(20)) })).status).toBe(401);
    expect((await fetch(`${base}/v1/status`, { headers: auth('n'.repeat(24)) })).status).toBe(200);
    // A file that no longer parses accepts nothing (never the old tokens) until fixed.
    writeFileSync(rotating, `new:short\n`);
    expect((await fetch(`${base}/v1/status`, { headers: auth('n'.repeat(24)) })).status).toBe(401);
  });

  it('a token file made readable by others while the daemon runs accepts no token from the next request on, and says the file is the cause', async () => {
    const file = join(dir, 'chmodded');
    writeFileSync(file, `ops:${TOKEN}\n`, { mode: 0o600 });
    const { base } = await start({ tokenFile: file });
    expect((await fetch(`${base}/v1/status`, { headers: auth(TOKEN) })).status).toBe(200);
    chmodSync(file, 0o644); // content unchanged: only its mode (and ctime)
    const refused = await fetch(`${base}/v1/status`, { headers: auth(TOKEN) });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toBe("no token is accepted now: api.tokenFile cannot be used (the daemon's log says why)");
    chmodSync(file, 0o600);
    expect((await fetch(`${base}/v1/status`, { headers: auth(TOKEN) })).status).toBe(200);
  });

  it('token file mistakes name the file, the line and the fix', () => {
    expect(() => parseTokenFile('ops:short', 'tokens')).toThrow('tokens line 1: the token of "ops" is 5 characters; give at least 16');
    expect(() => parseTokenFile('\nno colon here', 'tokens')).toThrow('tokens line 2 is not name:token');
    expect(() => parseTokenFile(`a:${TOKEN}\na:${TOKEN}x`, 'tokens')).toThrow('tokens line 2: the name "a" is there twice');
    expect(() => parseTokenFile('# nothing\n', 'tokens')).toThrow('tokens has no token');
  });

  it('does not start on a missing or bad token file or TLS file, naming the field', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    await expect(startApiServer(apiSchema.parse({ listen, tokenFile: join(dir, 'missing') }), backend, { logger })).rejects.toThrow(
      `api.tokenFile: ENOENT: no such file or directory, stat '${join(dir, 'missing')}'`,
    );
    const bad = join(dir, 'bad-tokens');
    writeFileSync(bad, 'ops:short\n', { mode: 0o600 });
    await expect(startApiServer(apiSchema.parse({ listen, tokenFile: bad }), backend, { logger })).rejects.toThrow(`api.tokenFile: ${bad} line 1`);
    const open = join(dir, 'open-tokens');
    writeFileSync(open, `ops:${TOKEN}\n`, { mode: 0o644 });
    chmodSync(open, 0o644);
    await expect(startApiServer(apiSchema.parse({ listen, tokenFile: open }), backend, { logger })).rejects.toThrow(
      `api.tokenFile: ${open} is mode 0644: others than its owner can read the tokens; chmod 600 ${open}`,
    );
    const tls = { certFile: join(dir, 'no-cert.pem'), keyFile: join(dir, 'no-key.pem') };
    await expect(startApiServer(apiSchema.parse({ listen, tokenFile, tls }), backend, { logger })).rejects.toThrow(`api.tls.certFile ${tls.certFile}: ENOENT`);
  });

  it('check-config names an api token file others can read and a missing TLS file (relative to the config file)', async () => {
    const configDir = mkdtempSync(join(dir, 'check-'));
    writeFileSync(join(configDir, 'tokens'), `ops:${TOKEN}\n`, { mode: 0o640 });
    chmodSync(join(configDir, 'tokens'), 0o640);
    writeFileSync(
      join(configDir, 'config.yaml'),
      'hosts:\n  - { name: kvm1, uri: "qemu+tcp://10.0.0.11/system" }\napi: { listen: "127.0.0.1:9465", tokenFile: tokens, tls: { certFile: api.pem, keyFile: api-key.pem } }\n',
    );
    writeFileSync(join(configDir, 'api-key.pem'), 'key\n');
    const { config, problems } = await checkConfigFile(join(configDir, 'config.yaml'));
    expect(config).toBeUndefined();
    expect(problems).toEqual([
      {
        path: 'api.tokenFile',
        message: `${join(configDir, 'tokens')} is mode 0640: others than its owner can read the tokens; chmod 600 ${join(configDir, 'tokens')}`,
      },
      { path: 'api.tls.certFile', message: expect.stringContaining(`ENOENT: no such file or directory, access '${join(configDir, 'api.pem')}'`) },
    ]);
  });

  it('config: an api without tokenFile or a client CA is refused (writes never without authentication)', () => {
    const parsed = apiSchema.safeParse({ listen: '127.0.0.1:9465' });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]).toMatchObject({ path: ['tokenFile'], message: expect.stringContaining('never takes writes without authentication') });
  });
});

describe('HTTP API input and limits', () => {
  beforeAll(() => writeFileSync(tokenFile, `ops:${TOKEN}\n`, { mode: 0o600 }));

  it('refuses an oversized body with 413, by its Content-Length and when streamed without one', async () => {
    calls = [];
    const { base } = await start({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ vcpus: 1, memoryMib: 1, name: 'x'.repeat(2000) });
    const declared = await fetch(`${base}/v1/place`, { method: 'POST', headers: jsonHeaders(TOKEN), body: big });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toEqual({ error: 'too-large', message: 'the body is over 1024 bytes (api.maxBodyBytes)' });
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(600)));
        controller.close();
      },
    });
    const streamed = await fetch(`${base}/v1/place`, { method: 'POST', headers: jsonHeaders(TOKEN), body: stream, duplex: 'half' } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(calls).toEqual([]);
  });

  it('answers a bad field with 400 naming it', async () => {
    calls = [];
    const { base } = await start();
    const post = async (body: string, headers = jsonHeaders(TOKEN)) => {
      const res = await fetch(`${base}/v1/place`, { method: 'POST', headers, body });
      return { status: res.status, body: (await res.json()) as { error: string; field?: string; message: string } };
    };
    expect(await post(JSON.stringify({ vcpus: 'two', memoryMib: 128 }))).toEqual({
      status: 400,
      body: { error: 'bad-request', field: 'vcpus', message: expect.stringMatching(/^field vcpus: .*number/) },
    });
    expect((await post(JSON.stringify({ vcpus: 1 }))).body.field).toBe('memoryMib');
    expect((await post(JSON.stringify({ vcpus: 1, memoryMib: 128, cpuPercent: 150 }))).body.field).toBe('cpuPercent');
    expect((await post(JSON.stringify({ vcpus: 1, memoryMib: 128, lables: { rack: 'a' } }))).body.field).toBe('lables');
    expect((await post(JSON.stringify({ vcpus: 1, memoryMib: 128, labels: { rack: 3 } }))).body.field).toBe('labels.rack');
    expect(await post('{"vcpus":')).toMatchObject({ status: 400, body: { error: 'bad-request', field: 'body' } });
    expect((await post('{}', { 'content-type': 'text/plain', ...auth() })).status).toBe(415);
    const history = await fetch(`${base}/v1/history?limit=0`, { headers: auth() });
    expect([history.status, ((await history.json()) as { field: string }).field]).toEqual([400, 'limit']);
    expect(calls).toEqual([]);
    const placed = await post(JSON.stringify({ vcpus: 2, memoryMib: 512, labels: { rack: 'a' } }));
    expect(placed.status).toBe(200);
    expect(calls).toEqual([{ op: 'place', args: [{ name: 'new-vm', vcpus: 2, memoryMib: 512, cpuPercent: 50, labels: { rack: 'a' } }, 'api:ops'] }]);
  });

  it('keeps refusal codes (404 not found, 409 not waiting), 404 for an unknown route, 405 for a wrong method', async () => {
    const { base } = await start();
    const gone = await fetch(`${base}/v1/recommendations/gone/approve`, { method: 'POST', headers: auth() });
    expect([gone.status, await gone.json()]).toEqual([404, { error: 'recommendation-not-found', message: 'no recommendation "gone"' }]);
    expect((await fetch(`${base}/v1/recommendations/done/approve`, { method: 'POST', headers: auth() })).status).toBe(409);
    const standby = await fetch(`${base}/v1/recommendations/standby/approve`, { method: 'POST', headers: auth() });
    expect([standby.status, ((await standby.json()) as { error: string }).error]).toEqual([503, 'not-leader']);
    expect((await fetch(`${base}/v1/nothing`, { headers: auth() })).status).toBe(404);
    const wrongMethod = await fetch(`${base}/v1/place`, { headers: auth() });
    expect([wrongMethod.status, wrongMethod.headers.get('allow')]).toEqual([405, 'POST']);
  });

  it('the OpenAPI document describes every route the server serves, and nothing else', () => {
    const doc = openapiDocument() as { paths: Record<string, Record<string, unknown>> };
    const described = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    expect(described.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('closes connections past api.maxConnections', async () => {
    const { base } = await start({ maxConnections: 2 });
    const { port } = new URL(base);
    const open = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const s = connect(Number(port), '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    // Let the server accept both before the third comes.
    await new Promise((r) => setTimeout(r, 100));
    const third = connect(Number(port), '127.0.0.1');
    third.on('error', () => {});
    const closedWithout = await new Promise<boolean>((resolve) => {
      let data = false;
      third.on('data', () => (data = true));
      third.on('close', () => resolve(!data));
      third.on('connect', () => third.write(`GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`));
    });
    expect(closedWithout).toBe(true);
    for (const s of open) s.destroy();
  });

  it('counts requests by route and code', async () => {
    const { base, metrics } = await start();
    await fetch(`${base}/v1/status`, { headers: auth() });
    await fetch(`${base}/v1/status`);
    await fetch(`${base}/v1/recommendations/gone/approve`, { method: 'POST', headers: auth() });
    const text = await metrics.registry.getSingleMetricAsString('virt_balancer_api_requests_total');
    expect(text).toContain('virt_balancer_api_requests_total{route="/v1/status",code="200"} 1');
    expect(text).toContain('virt_balancer_api_requests_total{route="/v1/status",code="401"} 1');
    expect(text).toContain('virt_balancer_api_requests_total{route="/v1/recommendations/{id}/approve",code="404"} 1');
  });
});

describe('HTTP API over TLS with client certificates', () => {
  let pki: Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'otherCert' | 'otherKey', string>;

  beforeAll(() => {
    const at = (f: string) => join(dir, f);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      at('ca.key'),
      '-out',
      at('ca.pem'),
      '-subj',
      '/CN=api-test-ca',
      '-days',
      '2',
    );
    writeFileSync(at('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    const leaf = (name: string, subject: string, ca: string, ext?: string) => {
      ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', subject);
      ssl(
        'x509',
        '-req',
        '-in',
        at(`${name}.csr`),
        '-CA',
        at(`${ca}.pem`),
        '-CAkey',
        at(`${ca}.key`),
        '-CAcreateserial',
        '-out',
        at(`${name}.pem`),
        '-days',
        '2',
        ...(ext ? ['-extfile', at(ext)] : []),
      );
    };
    leaf('server', '/CN=127.0.0.1', 'ca', 'san.ext');
    leaf('client', '/O=Example/CN=terraform', 'ca');
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      at('other.key'),
      '-out',
      at('other.pem'),
      '-subj',
      '/CN=intruder',
      '-days',
      '2',
    );
    pki = {
      ca: at('ca.pem'),
      serverCert: at('server.pem'),
      serverKey: at('server.key'),
      clientCert: at('client.pem'),
      clientKey: at('client.key'),
      otherCert: at('other.pem'),
      otherKey: at('other.key'),
    };
    writeFileSync(tokenFile, `ops:${TOKEN}\n`, { mode: 0o600 });
  });

  function call(base: string, path: string, options: { cert?: string; key?: string; token?: string; method?: string; headers?: Record<string, string> }) {
    return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = httpsRequest(
        `${base}${path}`,
        {
          method: options.method ?? 'GET',
          ca: readFileSync(pki.ca),
          ...(options.cert ? { cert: readFileSync(options.cert), key: readFileSync(options.key!) } : {}),
          headers: { ...(options.token ? auth(options.token) : {}), ...options.headers },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        },
      );
      req.on('error', (e) => reject(new Error(`${path} ${options.cert ?? options.token ?? 'none'}: ${e.message}`)));
      req.end();
    });
  }

  it('a client certificate of api.tls.clientCaFile authenticates, its subject journaled as who; others and none are refused', async () => {
    calls = [];
    await start({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.ca } });
    const base = `https://${server!.address}`;
    const approved = await call(base, '/v1/recommendations/r7/approve', { method: 'POST', cert: pki.clientCert, key: pki.clientKey });
    expect(approved).toEqual({ status: 200, body: { by: 'cert:O=Example,CN=terraform', reports: [] } });
    expect((await call(base, '/v1/recommendations/r7/approve', { method: 'POST', cert: pki.otherCert, key: pki.otherKey })).status).toBe(401);
    expect((await call(base, '/v1/recommendations/r7/approve', { method: 'POST' })).status).toBe(401);
    // A token still works over TLS.
    expect(await call(base, '/v1/recommendations/r8/approve', { method: 'POST', token: TOKEN })).toEqual({ status: 200, body: { by: 'api:ops', reports: [] } });
    expect(calls.map((c) => c.args)).toEqual([
      ['r7', 'cert:O=Example,CN=terraform'],
      ['r8', 'api:ops'],
    ]);
    // Plain HTTP is not served on the TLS port.
    await expect(fetch(`http://${server!.address}/v1/status`, { headers: auth() })).rejects.toThrow();
  });

  it('every credential presented must be valid: a valid certificate with a wrong token, or a foreign certificate with a valid token, is 401', async () => {
    calls = [];
    await start({ tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.ca } });
    const base = `https://${server!.address}`;
    const approve = (options: { cert?: string; key?: string; token?: string; headers?: Record<string, string> }) =>
      call(base, '/v1/recommendations/r9/approve', { method: 'POST', ...options });
    const client = { cert: pki.clientCert, key: pki.clientKey };
    const wrongToken = await approve({ ...client, token: 'not-the-token-0123456789' });
    expect(wrongToken).toEqual({ status: 401, body: { error: 'unauthorized', message: 'the bearer token is not one of api.tokenFile' } });
    expect((await approve({ ...client, headers: { authorization: `Basic ${TOKEN}` } })).status).toBe(401);
    const foreign = await approve({ cert: pki.otherCert, key: pki.otherKey, token: TOKEN });
    expect(foreign.status).toBe(401);
    expect((foreign.body as { message: string }).message).toContain('api.tls.clientCaFile');
    // Both valid: the token names who (the certificate only let the connection in).
    expect(await approve({ ...client, token: TOKEN })).toEqual({ status: 200, body: { by: 'api:ops', reports: [] } });
    expect(calls.map((c) => c.args)).toEqual([['r9', 'api:ops']]);
    // Without api.tokenFile any token is a wrong credential, even beside a valid certificate.
    await server!.close();
    await start({ tokenFile: undefined, tls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.ca } });
    const noTokens = await call(`https://${server!.address}`, '/v1/recommendations/r9/approve', { method: 'POST', ...client, token: TOKEN });
    expect(noTokens.status).toBe(401);
    expect((noTokens.body as { message: string }).message).toContain('no api.tokenFile is configured');
  });
});
