/**
 * libvirt connection URIs, read the way virsh reads them:
 *   driver[+transport]://[user@][host][:port]/path[?param=value&...]
 * e.g. qemu:///system, qemu+unix:///system?socket=/path, qemu+tcp://10.0.0.1/system,
 * qemu+tls://host/system, qemu+ssh://root@host/system, test+tcp://127.0.0.1/default.
 */
import { LibvirtUriError } from './errors.js';

export type Transport = 'unix' | 'tcp' | 'tls' | 'ssh';

export interface ParsedLibvirtUri {
  original: string;
  driver: string;
  transport: Transport;
  user?: string;
  host?: string;
  port?: number;
  path: string;
  params: Record<string, string>;
  /** The URI the remote daemon is asked to open: the transport, user, host and our params removed. */
  remoteName: string;
  /** Unix socket to connect to (unix transport, or the remote socket for ssh). */
  socketPath?: string;
}

const TRANSPORTS: Transport[] = ['unix', 'tcp', 'tls', 'ssh'];
// Parameters that steer the client and are not passed on to the daemon.
const CLIENT_PARAMS = new Set([
  'socket',
  'no_verify',
  'no_tty',
  'pkipath',
  'keyfile',
  'sshauth',
  'command',
  'netcat',
  'proxy',
  'mode',
  'known_hosts',
  'known_hosts_verify',
  'name',
  'tls_priority',
]);

/**
 * libvirt client parameters this client does not implement: written in a URI they would be
 * accepted and then do nothing (libvirt's docs/uri.rst lists them). `no_tty` is not here: ssh
 * runs with BatchMode=yes, so it never prompts.
 */
export const UNIMPLEMENTED_CLIENT_PARAMS: Record<string, string> = {
  sshauth: "it chooses the auth methods of libvirt's libssh transports; ours runs the ssh command (use ?keyfile= or ~/.ssh/config)",
  mode: 'it picks a monolithic or modular daemon socket; give the socket with ?socket= instead',
  known_hosts_verify: "it belongs to libvirt's libssh transports; ours runs the ssh command, which checks ?known_hosts= or ~/.ssh/known_hosts",
  tls_priority: "Node's TLS (OpenSSL) takes no GnuTLS priority string",
};

/** Every query parameter of a URI this client reads (the rest of libvirt's would go to the daemon, whose qemu driver ignores them). */
export const CLIENT_PARAM_NAMES: readonly string[] = [...CLIENT_PARAMS].filter((p) => !(p in UNIMPLEMENTED_CLIENT_PARAMS));

export const DEFAULT_PORTS: Record<'tcp' | 'tls', number> = { tcp: 16509, tls: 16514 };

/** A URI as quoted in an error: at most 120 characters, so a garbage value is not echoed back whole. */
export function quoteUri(uri: string): string {
  const text = JSON.stringify(uri.slice(0, 120));
  return uri.length > 120 ? `${text.slice(0, -1)}..." (${uri.length} characters)` : text;
}

/**
 * Parse a libvirt URI; the one parser both the config check and the client use, so a URI the
 * config accepts is one the client can connect with. Throws LibvirtUriError naming what is wrong.
 */
export function parseLibvirtUri(uri: string): ParsedLibvirtUri {
  if (typeof uri !== 'string' || uri.trim() === '') {
    throw new LibvirtUriError('empty libvirt URI: use e.g. qemu:///system or qemu+tcp://host/system');
  }
  const m = uri.match(/^([a-z][a-z0-9]*)(?:\+([a-z]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i);
  if (!m) {
    throw new LibvirtUriError(`${quoteUri(uri)} is not a libvirt URI: expected driver[+transport]://[user@][host][:port]/path, e.g. qemu+tcp://host/system`);
  }
  const driver = m[1].toLowerCase();
  const transportText = m[2]?.toLowerCase();
  const authority = m[3];
  const path = m[4] ?? '/';
  if (transportText && !TRANSPORTS.includes(transportText as Transport)) {
    throw new LibvirtUriError(`${quoteUri(uri)}: transport "${transportText}" is not supported; use one of ${TRANSPORTS.join(', ')}`);
  }
  let user: string | undefined;
  let hostPort = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    user = decodeURIComponent(authority.slice(0, at));
    hostPort = authority.slice(at + 1);
  }
  let host: string | undefined;
  let port: number | undefined;
  const bracketed = hostPort.match(/^\[([^\]]+)\](?::(.*))?$/);
  if (bracketed) {
    host = bracketed[1];
    if (bracketed[2] !== undefined) port = parsePort(uri, bracketed[2]);
  } else if (hostPort) {
    const colon = hostPort.lastIndexOf(':');
    if (colon >= 0) {
      host = hostPort.slice(0, colon);
      port = parsePort(uri, hostPort.slice(colon + 1));
    } else host = hostPort;
  }
  if (host === '') host = undefined;
  // A host is handed to ssh and to power commands as one argument: one starting with "-" would be
  // read as an option there (ssh -oProxyCommand=...), and no DNS name or address starts so.
  if (host?.startsWith('-'))
    throw new LibvirtUriError(
      `${quoteUri(uri)}: host "${host.slice(0, 40)}" starts with "-"; no host name or address does (it would be read as a command option)`,
    );
  const params: Record<string, string> = {};
  if (m[5]) {
    for (const pair of m[5].split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
      params[key] = decodeURIComponent(eq < 0 ? '' : pair.slice(eq + 1));
    }
  }
  // As libvirt: a URI with a host and no transport means TLS; without a host, the local socket.
  const transport: Transport = (transportText as Transport | undefined) ?? (host ? 'tls' : 'unix');
  if ((transport === 'tcp' || transport === 'tls' || transport === 'ssh') && !host) {
    throw new LibvirtUriError(`${quoteUri(uri)}: the ${transport} transport needs a host, e.g. ${driver}+${transport}://host${path}`);
  }
  if (transport === 'unix' && host) {
    throw new LibvirtUriError(
      `${quoteUri(uri)}: the unix transport is local and takes no host; use ${driver}+tcp://${host}${path} or ${driver}+ssh://${host}${path}`,
    );
  }
  const passOn = Object.entries(params).filter(([k]) => !CLIENT_PARAMS.has(k));
  const remoteName =
    params.name ?? `${driver}://${path}${passOn.length ? '?' + passOn.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&') : ''}`;
  const parsed: ParsedLibvirtUri = { original: uri, driver, transport, user, host, port, path, params, remoteName };
  if (transport === 'unix' || transport === 'ssh') parsed.socketPath = params.socket ?? defaultSocket(driver, path);
  return parsed;
}

function parsePort(uri: string, text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535)
    throw new LibvirtUriError(`${quoteUri(uri)}: port "${text.slice(0, 20)}" is not a number from 1 to 65535`);
  return port;
}

/** libvirtd's read-write socket for system connections; session sockets live in XDG_RUNTIME_DIR. */
function defaultSocket(driver: string, path: string): string {
  if (path === '/session') {
    const runtime = process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`;
    return `${runtime}/libvirt/libvirt-sock`;
  }
  void driver;
  return '/run/libvirt/libvirt-sock';
}

/** Ports libvirt's client uses when a URI names none (tcp and tls: libvirtd's listeners; ssh: sshd). */
const IMPLIED_PORTS: Partial<Record<Transport, number>> = { tcp: DEFAULT_PORTS.tcp, tls: DEFAULT_PORTS.tls, ssh: 22 };

/**
 * One string per libvirt daemon a URI reaches, for finding the same daemon listed twice: scheme
 * and host name in lower case, the default port written out, the path without a trailing slash,
 * the parameters that reach the daemon sorted (client-side ones such as keyfile, and empty ones,
 * dropped), and the user left out (two users of one daemon are still one host). Two URIs with
 * equal keys open the same daemon; different keys may still do so (an IP address and a name):
 * the host UUID check at connect catches those.
 */
export function libvirtDaemonKey(parsed: ParsedLibvirtUri): string {
  const path = parsed.path.length > 1 ? parsed.path.replace(/\/+$/, '') || '/' : parsed.path;
  const port = parsed.port ?? IMPLIED_PORTS[parsed.transport];
  const host = parsed.host ? parsed.host.toLowerCase().replace(/\.$/, '') : '';
  const passOn = Object.entries(parsed.params)
    .filter(([k, v]) => !CLIENT_PARAMS.has(k) && v !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const socket = parsed.transport === 'unix' || parsed.transport === 'ssh' ? ` socket=${parsed.socketPath}` : '';
  return `${parsed.driver}+${parsed.transport}://${host}${port !== undefined ? `:${port}` : ''}${path}${passOn ? `?${passOn}` : ''}${socket}`;
}
