/**
 * Throwaway PKIs for the lab's TLS tests, made with openssl: a CA and certificates it signs, each
 * stating its purpose and key usage (libvirt and QEMU check both on each side).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run.js';

const openssl = (args: string[]) => run('openssl', args, { timeoutMs: 60_000 });

/** A self-signed CA valid two days: `${prefix}cert.pem`, `${prefix}key.pem`. */
export async function makeCa(prefix: string, name: string): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    `${prefix}key.pem`,
    '-out',
    `${prefix}cert.pem`,
  ]);
}

/**
 * A leaf certificate signed by the CA at caPrefix, with extra extension lines (extendedKeyUsage,
 * subjectAltName); key and certificate written to keyOut and certOut.
 */
export async function issueCertificate(caPrefix: string, cn: string, extensions: string[], keyOut: string, certOut: string): Promise<void> {
  const ext = `${certOut}.ext`;
  await writeFile(ext, ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extensions, ''].join('\n'));
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', keyOut, '-out', `${certOut}.csr`]);
  await openssl([
    'x509',
    '-req',
    '-in',
    `${certOut}.csr`,
    '-CA',
    `${caPrefix}cert.pem`,
    '-CAkey',
    `${caPrefix}key.pem`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    certOut,
  ]);
}

/**
 * Migration certificates for QEMU's native TLS, one directory per host laid out as qemu.conf's
 * migrate_tls_x509_cert_dir expects: ca-cert.pem, server-cert.pem/server-key.pem (the target's
 * side; its subjectAltName lists every address a source may dial) and client-cert.pem/client-key.pem
 * (the source's side; libvirt's default migrate_tls_x509_verify = 1 makes the target ask for it).
 */
export async function makeMigrationPki(workDir: string, hosts: { name: string; certDir: string; addresses: string[] }[]): Promise<void> {
  await mkdir(workDir, { recursive: true });
  const ca = join(workDir, 'ca');
  await makeCa(ca, 'vb-lab migration CA');
  for (const host of hosts) {
    await mkdir(host.certDir, { recursive: true });
    await copyFile(`${ca}cert.pem`, join(host.certDir, 'ca-cert.pem'));
    const san = host.addresses.map((a) => (/^[0-9.:]+$/.test(a) ? `IP:${a}` : `DNS:${a}`)).join(',');
    // Issued in the work directory (requests and extension files stay there), then copied.
    const work = (f: string) => join(workDir, `${host.name}-${f}`);
    await issueCertificate(
      ca,
      `${host.name}-migration`,
      ['extendedKeyUsage=serverAuth', `subjectAltName=${san}`],
      work('server-key.pem'),
      work('server-cert.pem'),
    );
    await issueCertificate(ca, `${host.name}-migration-client`, ['extendedKeyUsage=clientAuth'], work('client-key.pem'), work('client-cert.pem'));
    for (const f of ['server-key.pem', 'server-cert.pem', 'client-key.pem', 'client-cert.pem']) await copyFile(work(f), join(host.certDir, f));
  }
}
