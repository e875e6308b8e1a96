/**
 * The executor's libvirt calls against replies recorded from one real pre-copy move between two
 * libvirt 11.3 lab hosts (test/unit/libvirt/recorded-daemon.ts): replayed, the move ends as it
 * did live, with the same figures read from the same completed-job statistics.
 */
import { describe, expect, it } from 'vitest';
import { runSingleMove } from '../../../src/executor/index.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { loadRecording, startRecordedDaemon } from '../libvirt/recorded-daemon.js';

const sourceRecording = loadRecording('migrate-lab1');
const targetRecording = loadRecording('migrate-lab2');
const live = JSON.parse(sourceRecording.virsh.result) as { ok: boolean; outcome: string; bytes?: number; downtimeMs?: number };

describe('executor on recorded replies (one pre-copy move, libvirt 11.3 lab hosts)', () => {
  it('runs the move to the outcome, bytes and downtime of the live run, with no call the daemons did not answer then', async () => {
    expect(live).toMatchObject({ ok: true, outcome: 'completed' });
    expect(/^State:\s+running$/m.test(sourceRecording.virsh['dominfo-on-target'])).toBe(true);
    // The migration call names the destination's URI (another port here): matched by procedure.
    const source = await startRecordedDaemon(sourceRecording, {
      delayProcedures: [Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS],
      maxDelayMs: 1500,
      matchProcedureOnly: [Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS],
    });
    const target = await startRecordedDaemon(targetRecording);
    try {
      const result = await runSingleMove(
        { vmName: 'rec1', from: 'lab1', to: 'lab2', technique: 'precopy' },
        { fromUri: source.uri, toUri: target.uri, bandwidthMiBps: 0, deadlineSeconds: 120 },
      );
      expect(result).toMatchObject({ ok: true, outcome: 'completed', bytes: live.bytes, downtimeMs: live.downtimeMs });
      expect(source.answered).toContain(Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS);
      expect(source.answered).toContain(Proc.DOMAIN_GET_JOB_STATS);
      expect(source.unexpected).toEqual([]);
      expect(target.unexpected).toEqual([]);
    } finally {
      await source.close();
      await target.close();
    }
  });
});
