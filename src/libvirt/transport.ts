/** Opens the byte stream a libvirt URI names: unix socket, TCP, TLS, or ssh running a helper. */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
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

function connected(
  socket: Duplex & { once: Duplex['once']; setNoDelay?: (b: boolean) => void },
  uri: ParsedLibvirtUri,
  options: TransportOptions,
  readyEvent = 'connect',
  hint: (e: NodeJS.ErrnoException) => string = () => '',
): Promise<Duplex> {
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
      reject(new Error(`cannot connect to ${uri.original}: ${describeSocketError(e, uri)}${hint(e)}`));
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

/** One TLS client file a qemu+tls:// connection reads, and where that choice came from (for errors that name the setting). */
export interface TlsClientFile {
  file: string;
  /** `option`: given in TransportOptions.tls (the config's libvirt.tls.*); `pkipath`: the URI's ?pkipath=; `default`: libvirt's path. */
  source: 'option' | 'pkipath' | 'default';
}

/** The CA, certificate and key a qemu+tls:// URI uses, chosen as libvirt's client chooses them (options, then ?pkipath=, then /etc/pki). */
export function tlsClientFiles(uri: ParsedLibvirtUri, tls: TlsFiles | undefined): Record<keyof TlsFiles, TlsClientFile> {
  const pki = uri.params.pkipath;
  const pick = (key: keyof TlsFiles, inPki: string): TlsClientFile =>
    tls?.[key] ? { file: tls[key], source: 'option' } : pki ? { file: `${pki}/${inPki}`, source: 'pkipath' } : { file: DEFAULT_TLS[key], source: 'default' };
  return { caFile: pick('caFile', 'cacert.pem'), certFile: pick('certFile', 'clientcert.pem'), keyFile: pick('keyFile', 'clientkey.pem') };
}

/** What to change for a TLS file, in the config's words (libvirt.tls.caFile is the config field that reaches TransportOptions.tls.caFile). */
export function tlsFileFix(key: keyof TlsFiles, { file, source }: TlsClientFile): string {
  if (source === 'option') return `fix libvirt.tls.${key} in the config`;
  if (source === 'pkipath') return `put it in the URI's ?pkipath= directory, or set libvirt.tls.${key} in the config`;
  return `${file} is libvirt's default path: put it there, or set libvirt.tls.${key} in the config (or ?pkipath=DIR in the URI)`;
}

function readPem(key: keyof TlsFiles, chosen: TlsClientFile, what: string): Buffer {
  try {
    return readFileSync(chosen.file);
  } catch (e) {
    throw new LibvirtUriError(`cannot read the TLS ${what} ${chosen.file}: ${(e as Error).message}; ${tlsFileFix(key, chosen)}`);
  }
}

function openTls(uri: ParsedLibvirtUri, options: TransportOptions): Promise<Duplex> {
  const files = tlsClientFiles(uri, options.tls);
  const socket = tlsConnect({
    host: uri.host!,
    port: uri.port ?? DEFAULT_PORTS.tls,
    ca: readPem('caFile', files.caFile, 'CA certificate'),
    cert: readPem('certFile', files.certFile, 'client certificate'),
    key: readPem('keyFile', files.keyFile, 'client key'),
    servername: /^[\d.:]+$/.test(uri.host!) ? undefined : uri.host,
    rejectUnauthorized: uri.params.no_verify !== '1',
  });
  return connected(socket, uri, options, 'secureConnect', (e) => serverCertificateHint(e, files.caFile)).then((s) =>
    awaitServerConfirmation(s as TLSSocket, uri, options),
  );
}

/** OpenSSL's verification failures of the server's certificate (Node's error codes), by what the operator checks. */
const UNTRUSTED_SERVER_CERT = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** Why we refused the server's certificate, naming the CA file and the setting that chose it. */
export function serverCertificateHint(e: NodeJS.ErrnoException, ca: TlsClientFile): string {
  if (e.code && UNTRUSTED_SERVER_CERT.has(e.code))
    return ` (the server's certificate is not signed by the CA in ${ca.file}; ${tlsFileFix('caFile', ca)} to the CA that signed libvirtd's servercert.pem)`;
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return " (the server's certificate does not name the host of the URI; connect with the name or address its certificate was issued for)";
  if (e.code === 'CERT_HAS_EXPIRED' || e.code === 'CERT_NOT_YET_VALID') return " (check the server's certificate dates and this machine's clock)";
  return '';
}

/**
 * After the handshake libvirtd checks our certificate (CA, tls_allowed_dn_list) and sends one
 * byte, 1, if it accepts us; otherwise it just closes. Reading that byte here keeps it out of the
 * RPC stream and turns a refusal into an error that says why.
 */
function awaitServerConfirmation(socket: TLSSocket, uri: ParsedLibvirtUri, options: TransportOptions): Promise<Duplex> {
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const refused = (detail: string) =>
      new Error(
        `cannot connect to ${uri.original}: the server refused our client certificate after the TLS handshake (${detail}); ` +
          `libvirtd accepts a client certificate signed by its ca_file and, if tls_allowed_dn_list is set, with a listed DN`,
      );
    const cleanup = () => {
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
    };
    const onReadable = () => {
      const byte: Buffer | null = socket.read(1);
      if (byte === null) return;
      cleanup();
      if (byte[0] === 1) resolve(socket);
      else {
        socket.destroy();
        reject(refused(`it answered ${byte[0]} instead of 1`));
      }
    };
    const onEnd = () => {
      cleanup();
      socket.destroy();
      reject(refused('it closed the connection'));
    };
    const onError = (e: Error) => {
      cleanup();
      socket.destroy();
      reject(refused(e.message));
    };
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(new Error(`cannot connect to ${uri.original}: the server did not confirm the TLS session within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}

/**
 * The command run on the remote host, chosen as libvirt chooses it: virt-ssh-helper when present,
 * else netcat on the socket; ?proxy=netcat or a ?netcat= path forces netcat (the only way the
 * remote ?socket= is used: virt-ssh-helper finds the daemon from the URI), ?proxy=native the helper.
 */
export function sshRemoteCommand(uri: ParsedLibvirtUri): string {
  const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const netcat = uri.params.netcat ?? 'nc';
  const helper = `exec virt-ssh-helper ${quoted(uri.remoteName)}`;
  // Both quoted: the remote shell reads this line, and a ?socket= or ?netcat= value is one word.
  const word = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : quoted(s));
  const nc = `exec ${word(netcat)} -U ${word(uri.socketPath!)}`;
  const proxy = uri.params.proxy ?? (uri.params.netcat !== undefined ? 'netcat' : 'auto');
  if (proxy === 'netcat') return `sh -c ${quoted(nc)}`;
  if (proxy === 'native') return `sh -c ${quoted(helper)}`;
  if (proxy !== 'auto') throw new LibvirtUriError(`"${uri.original}": proxy=${proxy} is not one of auto, netcat, native`);
  return `sh -c ${quoted(`if command -v virt-ssh-helper >/dev/null 2>&1; then ${helper}; else ${nc}; fi`)}`;
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
  // Our own Duplex over ssh's stdio: its stdout ends and its stdin closes before its exit status
  // is known, so the stream ends only when ssh has exited, with ssh's own words on why (a refused
  // login, an unknown host) rather than a bare "closed by the peer" or "premature close".
  const stream = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (child.stdin.writable) child.stdin.write(chunk, () => callback());
      else callback();
    },
    final(callback) {
      child.stdin.end(() => callback());
    },
    destroy(error, callback) {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      callback(error);
    },
  });
  child.stdout.on('data', (d: Buffer) => {
    if (!stream.push(d)) child.stdout.pause();
  });
  child.stdin.on('error', () => {
    /* EPIPE once ssh has gone; its exit below says why */
  });
  child.on('close', (code, signal) => {
    stream.destroy(new Error(`ssh to ${uri.host} exited with ${code === null ? `signal ${signal}` : `code ${code}`}${stderr ? ': ' + stderr.trim() : ''}`));
  });
  child.on('error', (e) => stream.destroy(new Error(`cannot run ssh for ${uri.original}: ${e.message}`)));
  return stream;
}
