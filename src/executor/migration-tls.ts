/**
 * migration.tls applied to one move: off moves in plaintext; required asks libvirt for
 * VIR_MIGRATE_TLS and refuses before starting when a host's versions cannot do it, libvirt's own
 * refusal (missing certificates, wrong name, failed handshake) turned into one line by
 * tls-errors.ts; preferred asks for TLS and, when the pair refuses it before any memory was sent,
 * moves the VM in plaintext (logged and journaled as an adaptation).
 */
import { featureMissing } from '../policy/capabilities.js';
import { runMigration, type MigrationResult, type RunMigrationOptions } from './migrate.js';
import type { Move } from '../policy/plan-types.js';
import { failedResult, resultBase } from './result.js';
import { explainMigrationTlsError } from './tls-errors.js';

export type MigrationTlsMode = 'off' | 'preferred' | 'required';

/** Why a host cannot do TLS migration by its versions (VIR_MIGRATE_TLS, QEMU tls-creds); undefined when it can. */
export function tlsUnsupported(host: string, versions: Parameters<typeof featureMissing>[1]): string | undefined {
  const missing = featureMissing('migrationTls', versions);
  return missing ? `${host} runs ${missing}, without TLS migration` : undefined;
}

/**
 * Run a move under the migration.tls mode (options.tls is set here). Errors as runMigration's;
 * a refused `required` move comes back failed with totalMs 0 and the VM where it was.
 */
export async function runMigrationWithTls(move: Move, options: Omit<RunMigrationOptions, 'tls'> & { tlsMode: MigrationTlsMode }): Promise<MigrationResult> {
  const { tlsMode, ...rest } = options;
  if (tlsMode === 'off') return runMigration(move, { ...rest, tls: false });
  const unsupported = tlsUnsupported(move.from, options.source.versions) ?? tlsUnsupported(move.to, options.target.versions);
  if (unsupported) {
    if (tlsMode === 'preferred') {
      options.logger.warn({ vm: move.vmName, from: move.from, to: move.to, why: unsupported }, 'migration.tls preferred: moving in plaintext');
      options.onAdapt?.('tls', `plaintext: ${unsupported}`);
      return runMigration(move, { ...rest, tls: false });
    }
    const error = `migration of VM ${move.vmName} from ${move.from} to ${move.to} refused before starting: migration.tls is required and ${unsupported}. Fix: upgrade libvirt and QEMU there, or set migration.tls: preferred`;
    options.logger.warn({ vm: move.vmName, err: error }, 'move refused');
    return failedResult({ ...resultBase(move, Date.now()), tls: true }, { error, notStarted: true });
  }
  const first = await runMigration(move, { ...rest, tls: true });
  if (tlsMode === 'required' || first.outcome !== 'failed' || first.switchedToPostcopy || first.incident || first.error === undefined) return first;
  const refusal = explainMigrationTlsError(first.error, { vm: move.vmName, from: move.from, to: move.to, tls: true });
  if (!refusal) return first;
  options.logger.warn({ vm: move.vmName, from: move.from, to: move.to, why: refusal }, 'migration.tls preferred: TLS refused, moving in plaintext');
  options.onAdapt?.('tls', `plaintext: ${refusal}`);
  return runMigration(move, { ...rest, tls: false });
}
