/**
 * libvirt's refusals of an encrypted migration (VIR_MIGRATE_TLS), turned into one line that names
 * the host, what is missing and the fix. Messages as libvirt 11.3 / QEMU 10.0 word them (seen in
 * the lab): QEMU's tls-creds-x509 object-add ("Unable to access credentials DIR/FILE"), its
 * hostname check, the TLS handshake, and libvirt's qemu_migration.c / qemu_migration_params.c
 * (migrate_tls_force, no TLS directory, no tls-creds in QEMU). All of them happen before any guest
 * memory is sent, so the VM is still running on the source.
 */

export interface TlsErrorContext {
  vm: string;
  from: string;
  to: string;
  /** Whether the failed attempt asked for TLS. */
  tls: boolean;
}

/** What QEMU's files in migrate_tls_x509_cert_dir are for, and so which end of the move needs them. */
const FILE_ROLE: Record<string, 'source' | 'target' | 'both'> = {
  'ca-cert.pem': 'both',
  'server-cert.pem': 'target',
  'server-key.pem': 'target',
  'client-cert.pem': 'source',
  'client-key.pem': 'source',
};

const FIX_FILES = 'ca-cert.pem, server-cert.pem and server-key.pem (naming its migration address), client-cert.pem and client-key.pem';
const SEE = 'see docs/deploy.md "Migration certificates"';

/** Which host a missing credentials file belongs to: by its role, else by a host name in its path. */
function hostOf(dir: string, file: string, ctx: TlsErrorContext): string {
  const role = FILE_ROLE[file] ?? 'both';
  if (role === 'source') return ctx.from;
  if (role === 'target') return ctx.to;
  // ca-cert.pem is read by both ends; a per-host directory (/etc/pki/HOST/...) says which.
  const segments = dir.split('/');
  const inFrom = segments.includes(ctx.from);
  const inTo = segments.includes(ctx.to);
  if (inFrom !== inTo) return inFrom ? ctx.from : ctx.to;
  // The destination prepares first; libvirt's message does not say which host it came from.
  return `${ctx.to} (or ${ctx.from}: libvirt does not say which)`;
}

/**
 * One line for libvirt's error when it is about migration TLS; undefined otherwise. With
 * `ctx.tls` false only migrate_tls_force's refusal applies.
 */
export function explainMigrationTlsError(libvirtMessage: string, ctx: TlsErrorContext): string | undefined {
  const head = `migration of VM ${ctx.vm} from ${ctx.from} to ${ctx.to}`;
  if (/allows migration only with VIR_MIGRATE_TLS flag/.test(libvirtMessage)) {
    return `${head} refused: ${ctx.to} or ${ctx.from} has migrate_tls_force = 1 in qemu.conf and accepts only encrypted migrations. Fix: set migration.tls: required (or preferred) and give both hosts migration certificates (${SEE})`;
  }
  if (!ctx.tls) return undefined;
  const missing = /Unable to access credentials (\S+)\/([^/\s:]+)/.exec(libvirtMessage);
  if (missing) {
    const [, dir, file] = missing;
    const host = hostOf(dir!, file!, ctx);
    return `${head} with TLS refused before any memory was sent: ${host} has no ${dir}/${file}. Fix: put ${FIX_FILES} in ${dir} on ${host} (qemu.conf migrate_tls_x509_cert_dir), or set migration.tls: preferred to move in plaintext where certificates are missing (${SEE})`;
  }
  const wrongName = /Certificate does not match the hostname (\S+)/.exec(libvirtMessage);
  if (wrongName) {
    const address = wrongName[1]!.replace(/[.,;]$/, '');
    return `${head} with TLS refused before any memory was sent: ${ctx.to}'s migration server certificate (server-cert.pem) does not name ${address}, the address the stream goes to. Fix: reissue it with subjectAltName ${/^[0-9.:]+$/.test(address) ? 'IP' : 'DNS'}:${address}, or set hosts[${ctx.to}].migrationAddress to a name the certificate has (${SEE})`;
  }
  if (
    /TLS connection was non-properly terminated|Cannot (read from|write to) TLS channel|certificate (is not trusted|hasn't got a known issuer|has expired|is not yet activated)|No certificate was found/i.test(
      libvirtMessage,
    )
  ) {
    return `${head} with TLS refused before any memory was sent: the TLS handshake between ${ctx.from} and ${ctx.to} failed. Fix: check that ${ctx.from} has client-cert.pem and client-key.pem, that both hosts' ca-cert.pem is the CA that signed the other's certificate, and that no certificate has expired (${SEE})`;
  }
  if (/TLS migration is not supported with this QEMU binary/.test(libvirtMessage)) {
    return `${head} with TLS refused: QEMU on ${ctx.from} or ${ctx.to} has no TLS migration (tls-creds). Fix: upgrade QEMU there, or set migration.tls: preferred`;
  }
  if (/host migration TLS directory not configured/.test(libvirtMessage)) {
    return `${head} with TLS refused: ${ctx.from} or ${ctx.to} has no migrate_tls_x509_cert_dir (nor default_tls_x509_cert_dir) in qemu.conf. Fix: set it to the directory holding the host's migration certificates and restart libvirtd there (${SEE})`;
  }
  return undefined;
}
