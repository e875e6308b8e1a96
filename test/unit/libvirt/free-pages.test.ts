import { afterEach, describe, expect, it } from 'vitest';
import { LibvirtConnection } from '../../../src/libvirt/index.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { XdrReader, XdrWriter } from '../../../src/libvirt/xdr.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

describe('virNodeGetFreePages on the wire', () => {
  let daemon: FakeDaemon | undefined;
  let conn: LibvirtConnection | undefined;
  afterEach(async () => {
    await conn?.close();
    await daemon?.close();
  });

  it('sends remote_node_get_free_pages_args and reads the cell-major counts (procedure 340)', async () => {
    let args: { pages: number[]; startCell: number; cellCount: number; flags: number } | undefined;
    daemon = await startFakeDaemon({
      libvirtVersion: 11_003_000,
      hypervisorVersion: 10_000_000,
      onCall: (call) => {
        if (call.procedure !== Proc.NODE_GET_FREE_PAGES) return;
        const r = new XdrReader(call.payload);
        args = { pages: r.array(1024, () => r.uint()), startCell: r.int(), cellCount: r.uint(), flags: r.uint() };
        // Two cells x two sizes: cell 0 (2 MiB, 1 GiB), then cell 1.
        call.reply(new XdrWriter().array([51_200n, 0n, 40_000n, 2n], 1024, (w, v) => w.uhyper(v)).toBuffer());
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0 });
    expect(Proc.NODE_GET_FREE_PAGES).toBe(340);
    await expect(conn.nodeGetFreePages([2048, 1_048_576], 0, 2)).resolves.toEqual([51_200n, 0n, 40_000n, 2n]);
    expect(args).toEqual({ pages: [2048, 1_048_576], startCell: 0, cellCount: 2, flags: 0 });
  });
});
