import { describe, expect, it } from 'vitest';
import { migrationSchema } from '../../../src/config/migration-schema.js';
import { ABORT_CALL_GRACE_MS, runMigration } from '../../../src/executor/migrate.js';
import { watchJob } from '../../../src/executor/watch.js';
import { silentLogger } from '../../../src/log/logger.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { asConn, RUNNING, ScriptedHost, UUID } from './scripted-host.js';

const config = { ...migrationSchema.parse({ deadlineSeconds: 1 }), pollIntervalMs: 10 };
const move: Move = {
  vmName: 'vm1',
  vmUuid: UUID,
  from: 'kvm1',
  to: 'kvm2',
  technique: 'precopy',
  copyStorage: false,
  predicted: { totalSeconds: 0, downtimeMs: 50, bytes: 2 ** 30, converges: true },
  reason: 'test',
  gain: 0.1,
  inputs: { memoryBytes: 2 ** 30, dirtyRateMiBps: 1, bandwidthMiBps: 100, downtimeBudgetMs: 300 },
};

async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), ms)));
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a migration call that never returns after the deadline abort', () => {
  it('ends the move after abort + grace, aborted, with what libvirt says of the VM on both hosts', async () => {
    const source = new ScriptedHost(RUNNING);
    const target = new ScriptedHost(undefined);
    source.job = 2;
    source.perform = () => new Promise<void>(() => {});
    // libvirt ends the job on the abort; the call itself never answers.
    source.domainAbortJob = async () => {
      source.aborts++;
      source.job = 0;
    };
    const adapted: string[] = [];
    const result = await settledWithin(
      runMigration(move, {
        source: asConn(source),
        target: asConn(target),
        targetUri: 'qemu+tcp://kvm2/system',
        config,
        downtimeBudgetMs: 300,
        allowPostcopySwitch: false,
        logger: silentLogger(),
        abortGraceMs: 300,
        onAdapt: (action) => adapted.push(action),
      }),
      5000,
    );
    expect(result).not.toBe('still pending');
    if (result === 'still pending') return;
    expect(source.aborts).toBe(1);
    expect(result.outcome).toBe('aborted');
    expect(result.error).toMatch(
      /^aborted: deadline of 1 s reached; the migration call did not return within 0.3 s of the abort; libvirt says the VM is running .*on kvm1 and .* on kvm2$/,
    );
    expect(adapted).toEqual(['abort', 'call-unanswered']);
  });

  it('the deadline holds while the source shows no job and the call is still out', async () => {
    const source = new ScriptedHost(RUNNING);
    source.job = 0;
    const r = await settledWithin(
      watchJob({
        connectionOf: () => asConn(source),
        vmUuid: UUID,
        pollIntervalMs: 5,
        log: silentLogger(),
        until: () => false,
        untilOnly: true,
        abortReason: async () => 'deadline of 1 s reached',
        abortGraceMs: 50,
      }),
      3000,
    );
    expect(r).toEqual({ end: 'callUnanswered', abortedWhy: 'deadline of 1 s reached' });
    expect(source.aborts).toBe(1);
  });

  it('has a grace of at most a few minutes by default', () => {
    expect(ABORT_CALL_GRACE_MS).toBeLessThanOrEqual(5 * 60_000);
  });
});
