/**
 * Files a config names that are read only when a connection opens (TLS CA, certificates, keys):
 * checked by `check-config` so a missing or unreadable one is reported with its field before a
 * host or etcd is ever dialled. Migration TLS certificates live on the hosts (qemu.conf), not here.
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { tlsClientFiles, tlsFileFix } from '../libvirt/transport.js';
import { parseLibvirtUri } from '../libvirt/uri.js';
import type { ConfigProblem } from './load.js';
import type { TlsFiles } from '../libvirt/transport.js';

/** What the TLS checks read: a valid config, or the fields of an invalid one that have the right types. */
export interface TlsFileInput {
  /** `index`: the entry's place in the file's hosts list (default: its place here). */
  hosts: { name: string; uri: string; index?: number }[];
  libvirt?: { tls?: TlsFiles };
  ha?: { tls?: TlsFiles };
}

/** Why a PEM file cannot be used, or undefined when it can: exists, is a readable file, holds PEM. */
async function pemProblem(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return `${file} is not a file`;
    await access(file, constants.R_OK);
    const text = await readFile(file, 'utf8');
    if (!text.includes('-----BEGIN ')) return `${file} holds no PEM block (-----BEGIN ...); give the PEM file, not DER or another file`;
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${file} does not exist`;
    if (code === 'EACCES') return `${file} is not readable by this user (uid ${process.getuid?.() ?? '?'})`;
    return `${file} cannot be read: ${(e as Error).message}`;
  }
}

/**
 * Every TLS file the config makes virt-balancer read, checked: libvirt.tls.* for the hosts with a
 * qemu+tls:// URI (or the ?pkipath= or libvirt default files they fall back to; set fields are
 * checked even with no TLS host), and ha.tls.*. Each problem names the field and the fix.
 */
export async function tlsFileProblems(config: TlsFileInput): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const checked = new Set<string>();
  const check = async (path: string, file: string, fix: string) => {
    if (checked.has(`${path} ${file}`)) return;
    checked.add(`${path} ${file}`);
    const problem = await pemProblem(file);
    if (problem) problems.push({ path, message: `${problem}; ${fix}` });
  };
  const keys = ['caFile', 'certFile', 'keyFile'] as const;
  const tls = config.libvirt?.tls;
  for (const key of keys) if (tls?.[key]) await check(`libvirt.tls.${key}`, tls[key], `fix libvirt.tls.${key}`);
  for (const [index, host] of config.hosts.entries()) {
    let uri;
    try {
      uri = parseLibvirtUri(host.uri);
    } catch {
      continue; // reported by the URI checks
    }
    if (uri.transport !== 'tls') continue;
    const files = tlsClientFiles(uri, tls);
    for (const key of keys) {
      const chosen = files[key];
      if (chosen.source === 'option') continue; // checked above
      await check(
        chosen.source === 'pkipath' ? `hosts[${host.index ?? index}].uri` : `libvirt.tls.${key}`,
        chosen.file,
        `host "${host.name}" uses qemu+tls:// and reads it ${chosen.source === 'pkipath' ? 'from ?pkipath=' : "at libvirt's default path (libvirt.tls is not set)"}; ${tlsFileFix(key, chosen)}`,
      );
    }
  }
  const ha = config.ha?.tls;
  for (const key of keys) if (ha?.[key]) await check(`ha.tls.${key}`, ha[key], `fix ha.tls.${key}`);
  return problems;
}

/**
 * The TLS fields of a config that failed validation, as far as they have the right types, with
 * relative paths taken from the config file's directory as `loadConfig` takes them: so a missing
 * CA file is reported together with the config's other problems.
 */
export function rawTlsFileInput(raw: unknown, file: string): TlsFileInput {
  const dir = dirname(resolve(file));
  const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const files = (v: unknown): TlsFiles => {
    const t = obj(v);
    const out: TlsFiles = {};
    for (const key of ['caFile', 'certFile', 'keyFile'] as const) if (typeof t[key] === 'string' && t[key] !== '') out[key] = resolve(dir, t[key] as string);
    return out;
  };
  const top = obj(raw);
  const hosts = Array.isArray(top.hosts) ? top.hosts : [];
  return {
    hosts: hosts.flatMap((h, index) => {
      const { name, uri } = obj(h);
      return typeof uri === 'string' ? [{ name: typeof name === 'string' ? name : `hosts[${index}]`, uri, index }] : [];
    }),
    libvirt: { tls: files(obj(top.libvirt).tls) },
    ha: { tls: files(obj(top.ha).tls) },
  };
}
