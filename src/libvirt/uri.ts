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
const CLIENT_PARAMS = new Set(['socket', 'no_verify', 'no_tty', 'pkipath', 'keyfile', 'sshauth', 'command', 'netcat', 'proxy', 'mode', 'known_hosts', 'known_hosts_verify', 'name', 'tls_priority']);

export const DEFAULT_PORTS: Record<'tcp' | 'tls', number> = { tcp: 16509, tls: 16514 };

export function parseLibvirtUri(uri: string): ParsedLibvirtUri {
  if (typeof uri !== 'string' || uri.trim() === '') {
    throw new LibvirtUriError('empty libvirt URI: use e.g. qemu:///system or qemu+tcp://host/system');
  }
  const m = uri.match(/^([a-z][a-z0-9]*)(?:\+([a-z]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i);
  if (!m) {
    throw new LibvirtUriError(`"${uri}" is not a libvirt URI: expected driver[+transport]://[user@][host][:port]/path, e.g. qemu+tcp://host/system`);
  }
  const driver = m[1].toLowerCase();
  const transportText = m[2]?.toLowerCase();
  const authority = m[3];
  const path = m[4] ?? '/';
  if (transportText && !TRANSPORTS.includes(transportText as Transport)) {
    throw new LibvirtUriError(`"${uri}": transport "${transportText}" is not supported; use one of ${TRANSPORTS.join(', ')}`);
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
    throw new LibvirtUriError(`"${uri}": the ${transport} transport needs a host, e.g. ${driver}+${transport}://host${path}`);
  }
  if (transport === 'unix' && host) {
    throw new LibvirtUriError(`"${uri}": the unix transport is local and takes no host; use ${driver}+tcp://${host}${path} or ${driver}+ssh://${host}${path}`);
  }
  const passOn = Object.entries(params).filter(([k]) => !CLIENT_PARAMS.has(k));
  const remoteName = params.name ?? `${driver}://${path}${passOn.length ? '?' + passOn.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&') : ''}`;
  const parsed: ParsedLibvirtUri = { original: uri, driver, transport, user, host, port, path, params, remoteName };
  if (transport === 'unix' || transport === 'ssh') parsed.socketPath = params.socket ?? defaultSocket(driver, path);
  return parsed;
}

function parsePort(uri: string, text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new LibvirtUriError(`"${uri}": port "${text}" is not a number from 1 to 65535`);
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
