import { afterEach, describe, expect, it } from 'vitest';
import { LibvirtConnection } from '../../../src/libvirt/index.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

describe('per-call timeout and job-length procedures', () => {
  let daemon: FakeDaemon | undefined;
  let conn: LibvirtConnection | undefined;
  afterEach(async () => {
    await conn?.close();
    await daemon?.close();
  });

  it('lets a peer-to-peer migration call outlast callTimeoutMs while other calls still time out', async () => {
    // The migration's reply comes after 4x the call timeout, as libvirt's does when the job ends.
    daemon = await startFakeDaemon({
      libvirtVersion: 11_003_000,
      hypervisorVersion: 10_000_002,
      onCall: (call) => {
        if (call.procedure === Proc.DOMAIN_MIGRATE_PERFORM3_PARAMS) setTimeout(() => call.reply(Buffer.alloc(4)), 800);
        // CONNECT_GET_HOSTNAME: never answered.
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 200, keepaliveIntervalSeconds: 0 });
    expect(conn.versions).toEqual({ libvirtVersion: 11_003_000, hypervisorVersion: 10_000_002 });
    const started = Date.now();
    const migration = conn.domainMigratePerform3Params(
      { name: 'vm', uuid: '6f1c4a52-5d8e-4a5b-9b0e-7d3c2a1b0f11', id: 1 },
      'qemu+tcp://127.0.0.2/system',
      {},
      2,
    );
    await expect(conn.connectGetHostname()).rejects.toThrow(/REMOTE_PROC_CONNECT_GET_HOSTNAME on .* had no reply within 200 ms/);
    await expect(migration).resolves.toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
  });
});
