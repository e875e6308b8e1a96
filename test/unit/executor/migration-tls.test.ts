import { beforeEach, describe, expect, it, vi } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import type { MigrationResult, RunMigrationOptions } from '../../../src/executor/migrate.js';
import { recipeFor } from '../../../src/executor/technique-params.js';
import { explainMigrationTlsError } from '../../../src/executor/tls-errors.js';
import { MigrateFlags, type LibvirtConnection } from '../../../src/libvirt/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { Move } from '../../../src/policy/plan-types.js';

// The wrapper's decisions are tested against a stand-in for the libvirt call: what it asked for, in order.
const calls: { tls: boolean | undefined }[] = [];
let replies: Partial<MigrationResult>[] = [];
vi.mock('../../../src/executor/migrate.js', () => ({
  runMigration: async (move: Move, options: RunMigrationOptions): Promise<MigrationResult> => {
    calls.push({ tls: options.tls });
    const reply = replies.shift() ?? { outcome: 'completed' };
    return {
      vm: move.vmName,
      vmUuid: move.vmUuid,
      from: move.from,
      to: move.to,
      technique: move.technique,
      outcome: 'completed',
      totalMs: 1000,
      switchedToPostcopy: false,
      predicted: move.predicted,
      startedAtMs: 0,
      endedAtMs: 1000,
      tls: options.tls,
      ...reply,
    };
  },
}));
const { runMigrationWithTls } = await import('../../../src/executor/migration-tls.js');

const config = migrationSchema.parse({});
const move: Move = {
  vmName: 'web1',
  vmUuid: 'u1',
  from: 'kvm1',
  to: 'kvm2',
  technique: 'precopy',
  copyStorage: false,
  predicted: { totalSeconds: 1, downtimeMs: 10, bytes: 1, converges: true },
  reason: 't',
  gain: 0,
  inputs: { memoryBytes: 1, dirtyRateMiBps: 0, bandwidthMiBps: 1, downtimeBudgetMs: 300 },
};
const current = { libvirtVersion: 11_003_000, hypervisorVersion: 10_000_002 };
const conn = (versions = current) => ({ versions }) as unknown as LibvirtConnection;
const missingCa =
  "internal error: unable to execute QEMU command 'object-add': Unable to access credentials /etc/pki/qemu/ca-cert.pem: No such file or directory";

describe('migration.tls for one move', () => {
  beforeEach(() => {
    calls.length = 0;
    replies = [];
  });
  const run = (tlsMode: 'off' | 'preferred' | 'required', source = conn(), target = conn()) => {
    const adaptations: string[] = [];
    const result = runMigrationWithTls(move, {
      source,
      target,
      targetUri: 'qemu+tcp://10.0.0.2/system',
      config,
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
      tlsMode,
      onAdapt: (a, d) => adaptations.push(`${a}: ${d}`),
    });
    return { result, adaptations };
  };

  it('off asks for plaintext once; required asks for TLS once and keeps its refusal', async () => {
    expect((await run('off').result).tls).toBe(false);
    expect(calls).toEqual([{ tls: false }]);
    calls.length = 0;
    replies = [
      {
        outcome: 'failed',
        totalMs: 0,
        error: `${explainMigrationTlsError(missingCa, { vm: 'web1', from: 'kvm1', to: 'kvm2', tls: true })} (libvirt: ${missingCa})`,
      },
    ];
    const refused = await run('required').result;
    expect(calls).toEqual([{ tls: true }]);
    expect(refused.outcome).toBe('failed');
    expect(refused.error).toMatch(
      /^migration of VM web1 from kvm1 to kvm2 with TLS refused before any memory was sent: kvm2 \(or kvm1: libvirt does not say which\) has no \/etc\/pki\/qemu\/ca-cert\.pem/,
    );
  });

  it('preferred falls back to plaintext after a TLS refusal, journaled as an adaptation', async () => {
    replies = [{ outcome: 'failed', totalMs: 0, error: missingCa }, { outcome: 'completed' }];
    const { result, adaptations } = run('preferred');
    const r = await result;
    expect(calls).toEqual([{ tls: true }, { tls: false }]);
    expect(r).toMatchObject({ outcome: 'completed', tls: false });
    expect(adaptations).toHaveLength(1);
    expect(adaptations[0]).toMatch(/^tls: plaintext: migration of VM web1 .* with TLS refused/);
  });

  it('preferred does not retry a failure that is not about TLS, nor one that left an incident', async () => {
    replies = [{ outcome: 'failed', error: 'operation failed: job migration out failed: Connection reset' }];
    expect((await run('preferred').result).outcome).toBe('failed');
    replies = [{ outcome: 'failed', error: missingCa, incident: 'the VM is paused on kvm1' }];
    expect((await run('preferred').result).outcome).toBe('failed');
    expect(calls).toEqual([{ tls: true }, { tls: true }]);
  });

  it('required refuses before any libvirt call when a host is too old for TLS migration, naming it', async () => {
    const old = conn({ libvirtVersion: 3_001_000, hypervisorVersion: 2_006_000 });
    const r = await run('required', conn(), old).result;
    expect(calls).toEqual([]);
    expect(r).toMatchObject({ outcome: 'failed', totalMs: 0 });
    expect(r.error).toBe(
      'migration of VM web1 from kvm1 to kvm2 refused before starting: migration.tls is required and kvm2 runs libvirt 3.1.0 < 3.2.0, without TLS migration. Fix: upgrade libvirt and QEMU there, or set migration.tls: preferred',
    );
    await run('preferred', old, conn()).result;
    expect(calls).toEqual([{ tls: false }]);
  });
});

describe('TLS in the migration recipe', () => {
  const base = { config, targetLibvirtUri: 'qemu+tcp://10.0.0.2/system', copyStorage: false, allowPostcopySwitch: false };
  it('sets VIR_MIGRATE_TLS (65536) only when asked, never on a cold move', () => {
    expect(MigrateFlags.TLS).toBe(65536);
    expect(recipeFor('precopy', { ...base, tls: true }).flags & MigrateFlags.TLS).toBe(MigrateFlags.TLS);
    expect(recipeFor('precopy', base).flags & MigrateFlags.TLS).toBe(0);
    expect(recipeFor('cold', { ...base, tls: true }).flags & MigrateFlags.TLS).toBe(0);
  });
  it('sends the stream to the target migration address and makes the target listen there', () => {
    expect(recipeFor('precopy', { ...base, targetMigrationAddress: '10.1.0.2' }).params).toMatchObject({ uri: 'tcp://10.1.0.2', listenAddress: '10.1.0.2' });
    expect(recipeFor('multifd', { ...base, targetMigrationAddress: 'fd00::2' }).params).toMatchObject({ uri: 'tcp://[fd00::2]', listenAddress: 'fd00::2' });
    expect(recipeFor('precopy', base).params.listenAddress).toBeUndefined();
    expect(recipeFor('precopy', base).params.uri).toBe('tcp://10.0.0.2');
  });
});

describe('libvirt TLS refusals as one line', () => {
  const ctx = { vm: 'web1', from: 'kvm1', to: 'kvm2', tls: true };
  it('names the target for a missing server certificate and the source for a missing client key (lab messages)', () => {
    expect(
      explainMigrationTlsError(
        "unable to execute QEMU command 'object-add': Unable to access credentials /etc/pki/qemu/server-cert.pem: No such file or directory",
        ctx,
      ),
    ).toMatch(
      /: kvm2 has no \/etc\/pki\/qemu\/server-cert\.pem\. Fix: put ca-cert\.pem, .* in \/etc\/pki\/qemu on kvm2 \(qemu\.conf migrate_tls_x509_cert_dir\)/,
    );
    expect(explainMigrationTlsError('Unable to access credentials /etc/pki/qemu/client-key.pem: No such file or directory', ctx)).toMatch(
      /: kvm1 has no \/etc\/pki\/qemu\/client-key\.pem/,
    );
  });
  it('names the host from a per-host directory when ca-cert.pem is missing', () => {
    expect(explainMigrationTlsError('Unable to access credentials /var/lab/hosts/kvm1/migration-pki/ca-cert.pem: No such file or directory', ctx)).toMatch(
      /: kvm1 has no \/var\/lab\/hosts\/kvm1\/migration-pki\/ca-cert\.pem/,
    );
  });
  it('explains a certificate without the migration address and a failed handshake', () => {
    const wrong =
      "operation failed: migration failed. Message from the source host: operation failed: job 'migration out' failed: Certificate does not match the hostname 10.1.0.2. Message from the destination host: ...";
    expect(explainMigrationTlsError(wrong, ctx)).toMatch(
      /kvm2's migration server certificate \(server-cert\.pem\) does not name 10\.1\.0\.2, .* subjectAltName IP:10\.1\.0\.2/,
    );
    expect(
      explainMigrationTlsError(
        "operation failed: job 'migration out' failed: Cannot read from TLS channel: The TLS connection was non-properly terminated.",
        ctx,
      ),
    ).toMatch(/TLS handshake between kvm1 and kvm2 failed\. Fix: check that kvm1 has client-cert\.pem and client-key\.pem/);
  });
  it('explains migrate_tls_force even without TLS, and nothing else then', () => {
    expect(
      explainMigrationTlsError('Requested operation is not valid: this libvirtd instance allows migration only with VIR_MIGRATE_TLS flag', {
        ...ctx,
        tls: false,
      }),
    ).toMatch(/migrate_tls_force = 1 .* Fix: set migration\.tls: required/);
    expect(explainMigrationTlsError(missingCa, { ...ctx, tls: false })).toBeUndefined();
    expect(explainMigrationTlsError('operation failed: domain is not running', ctx)).toBeUndefined();
  });
});
