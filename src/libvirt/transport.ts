/** Opens the byte stream a libvirt URI names: unix socket, TCP, TLS, or ssh running a helper. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Duplex } from 'node:stream';
import { LibvirtUriError } from './errors.js';
import { DEFAULT_PORTS, type ParsedLibvirtUri } from './uri.js';

export interface TlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface TransportOptions {
  tls?: TlsFiles;
  /** ssh binary and extra arguments (e.g. ['-i', key]); default 'ssh' in batch mode. */
  sshCommand?: string;
  sshArgs?: string[];
  connectTimeoutMs?: number;
}

// libvirt's default PKI locations for a root client.
const DEFAULT_TLS: Required<TlsFiles> = {
  caFile: '/etc/pki/CA/cacert.pem',
  certFile: '/etc/pki/libvirt/clientcert.pem',
  keyFile: '/etc/pki/libvirt/private/clientkey.pem',
};

export function openTransport(uri: ParsedLibvirtUri, options: TransportOptions = {}): Promise<Duplex> {
  switch (uri.transport) {
    case 'unix':
      return connected(netConnect({ path: uri.socketPath! }), uri, options);
    case 'tcp':
      return connected(netConnect({ host: uri.host!, port: uri.port ?? DEFAULT_PORTS.tcp }), uri, options);
    case 'tls':
      return openTls(uri, options);
    case 'ssh':
      return Promise.resolve(openSsh(uri, options));
  }
}

function connected(socket: Duplex & { once: Duplex['once']; setNoDelay?: (b: boolean) => void }, uri: ParsedLibvirtUri, options: TransportOptions, readyEvent = 'connect'): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`cannot connect to ${uri.original}: no answer within ${(options.connectTimeoutMs ?? 10_000) / 1000} s`));
    }, options.connectTimeoutMs ?? 10_000);
    socket.once(readyEvent, () => {
      clearTimeout(timer);
      socket.setNoDelay?.(true);
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${uri.original}: ${describeSocketError(e, uri)}`));
    });
  });
}

function describeSocketError(e: NodeJS.ErrnoException, uri: ParsedLibvirtUri): string {
  if (e.code === 'ENOENT') return `no socket at ${uri.socketPath} (is libvirtd running? use ?socket=PATH for another socket)`;
  if (e.code === 'ECONNREFUSED') {
    return uri.transport === 'unix'
      ? `connection refused on ${uri.socketPath} (is libvirtd running?)`
      : `connection refused by ${uri.host}:${uri.port ?? DEFAULT_PORTS[uri.transport as 'tcp' | 'tls']} (is libvirtd listening? libvirtd.conf listen_${uri.transport} = 1 and libvirtd started with --listen, or the libvirtd-${uri.transport}.socket unit)`;
  }
  if (e.code === 'EACCES') return `permission denied on ${uri.socketPath} (run as root or a member of the libvirt group)`;
  return e.message;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new LibvirtUriError(`cannot read the TLS ${what} ${file}: ${(e as Error).message} (set it in the connection options or put it at libvirt's default path)`);
  }
}

function openTls(uri: ParsedLibvirtUri, options: TransportOptions): Promise<Duplex> {
  const pki = uri.params.pkipath;
  const files = {
    caFile: options.tls?.caFile ?? (pki ? `${pki}/cacert.pem` : DEFAULT_TLS.caFile),
    certFile: options.tls?.certFile ?? (pki ? `${pki}/clientcert.pem` : DEFAULT_TLS.certFile),
    keyFile: options.tls?.keyFile ?? (pki ? `${pki}/clientkey.pem` : DEFAULT_TLS.keyFile),
  };
  const socket = tlsConnect({
    host: uri.host!,
    port: uri.port ?? DEFAULT_PORTS.tls,
    ca: readPem(files.caFile, 'CA certificate'),
    cert: readPem(files.certFile, 'client certificate'),
    key: readPem(files.keyFile, 'client key'),
    servername: /^[\d.:]+$/.test(uri.host!) ? undefined : uri.host,
    rejectUnauthorized: uri.params.no_verify !== '1',
  });
  return connected(socket, uri, options, 'secureConnect');
}

/** The command run on the remote host: virt-ssh-helper when present, else netcat on the socket. */
export function sshRemoteCommand(uri: ParsedLibvirtUri): string {
  const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const netcat = uri.params.netcat ?? 'nc';
  return (
    `sh -c ${quoted(
      `if command -v virt-ssh-helper >/dev/null 2>&1; then exec virt-ssh-helper ${quoted(uri.remoteName)}; ` +
        `else exec ${netcat} -U ${uri.socketPath}; fi`,
    )}`
  );
}

export function sshArguments(uri: ParsedLibvirtUri, options: TransportOptions = {}): string[] {
  const args = ['-T', '-e', 'none', '-o', 'BatchMode=yes'];
  if (uri.port) args.push('-p', String(uri.port));
  if (uri.user) args.push('-l', uri.user);
  if (uri.params.keyfile) args.push('-i', uri.params.keyfile);
  if (uri.params.known_hosts) args.push('-o', `UserKnownHostsFile=${uri.params.known_hosts}`);
  args.push(...(options.sshArgs ?? []), '--', uri.host!, sshRemoteCommand(uri));
  return args;
}

function openSsh(uri: ParsedLibvirtUri, options: TransportOptions): Duplex {
  const child = spawn(options.sshCommand ?? uri.params.command ?? 'ssh', sshArguments(uri, options), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.on('exit', (code) => {
    stream.destroy(new Error(`ssh to ${uri.host} exited with code ${code}${stderr ? ': ' + stderr.trim() : ''}`));
  });
  child.on('error', (e) => stream.destroy(new Error(`cannot run ssh for ${uri.original}: ${e.message}`)));
  const destroy = stream.destroy.bind(stream);
  stream.destroy = (err?: Error) => {
    child.kill();
    return destroy(err);
  };
  return stream;
}
