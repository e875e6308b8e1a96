/** qemu+tls:// failures name the file, the config setting that chose it (libvirt.tls.*) and the fix. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTransport } from '../../../src/libvirt/transport.js';
import { parseLibvirtUri } from '../../../src/libvirt/uri.js';

let dir: string;
let server: Server;
let port: number;

/** A self-signed EC certificate and key (openssl), written as NAME.pem and NAME-key.pem. */
function selfSigned(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', key, '-out', cert],
    {
      stdio: 'ignore',
    },
  );
  return { cert, key };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vb-tls-'));
  const daemon = selfSigned('daemon');
  server = createServer({ cert: readFileSync(daemon.cert), key: readFileSync(daemon.key) }, (socket) => socket.destroy());
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS client errors name libvirt.tls.caFile', () => {
  it('a CA file that cannot be read: the file, the setting it came from, and the fix', async () => {
    const uri = parseLibvirtUri('qemu+tls://127.0.0.1:1/system');
    await expect(async () => openTransport(uri, { tls: { caFile: join(dir, 'missing-ca.pem') } })).rejects.toThrow(
      new RegExp(`cannot read the TLS CA certificate ${join(dir, 'missing-ca.pem')}: ENOENT.*; fix libvirt.tls.caFile in the config`),
    );
    const pki = parseLibvirtUri(`qemu+tls://127.0.0.1:1/system?pkipath=${join(dir, 'nopki')}`);
    await expect(async () => openTransport(pki)).rejects.toThrow(
      /nopki\/cacert.pem: ENOENT.*; put it in the URI's \?pkipath= directory, or set libvirt.tls.caFile/,
    );
  });

  it('a server certificate our CA did not sign: says so and names libvirt.tls.caFile', async () => {
    const other = selfSigned('other-ca');
    const uri = parseLibvirtUri(`qemu+tls://127.0.0.1:${port}/system`);
    const failure = openTransport(uri, { tls: { caFile: other.cert, certFile: other.cert, keyFile: other.key }, connectTimeoutMs: 5000 });
    await expect(failure).rejects.toThrow(
      `cannot connect to qemu+tls://127.0.0.1:${port}/system: self-signed certificate (the server's certificate is not signed by the CA in ${other.cert}; fix libvirt.tls.caFile in the config to the CA that signed libvirtd's servercert.pem)`,
    );
  });
});
