/**
 * A host's address on the migration network (`hosts[].migrationAddress`): what it may look like,
 * and how it becomes libvirt's migration URI and listen address.
 */
import { isIP } from 'node:net';

/** RFC 1123 host name: dot-separated labels of letters, digits and '-', each 1-63 long, at most 253 in all. */
const HOST_NAME = /^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Strip the brackets an IPv6 address may be written with ("[fd00::5]"). */
function bare(address: string): string {
  return /^\[.*\]$/.test(address) ? address.slice(1, -1) : address;
}

/**
 * True for an IPv4 address, an IPv6 address (bare or in brackets) or a host name; false for
 * anything with a scheme, port, path or spaces (a URI belongs in `uri`, not here).
 */
export function isMigrationAddress(address: string): boolean {
  const b = bare(address);
  if (isIP(b) !== 0) return true;
  if (b !== address) return false;
  // All-numeric dotted names are malformed IPv4 addresses (999.1.1.1), not host names.
  if (/^[0-9.]+$/.test(address)) return false;
  return HOST_NAME.test(address);
}

/** One spelling per address, to compare hosts' addresses (case, brackets, a trailing dot). */
export function normalizeMigrationAddress(address: string): string {
  return bare(address).toLowerCase().replace(/\.$/, '');
}

/**
 * libvirt's migration URI for an address: tcp://ADDRESS, IPv6 in brackets
 * (VIR_MIGRATE_PARAM_URI, libvirt's docs/migration.rst "Migration URI").
 */
export function migrationUriForAddress(address: string): string {
  const b = bare(address);
  return isIP(b) === 6 ? `tcp://[${b}]` : `tcp://${b}`;
}

/** The listen address as libvirt's VIR_MIGRATE_PARAM_LISTEN_ADDRESS takes it: IPv6 without brackets. */
export function listenAddressFor(address: string): string {
  return bare(address);
}
