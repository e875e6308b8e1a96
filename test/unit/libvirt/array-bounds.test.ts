/**
 * Issue 27 R16 and the XDR reader's lengths: every array and opaque the client reads or writes is
 * held to the bound libvirt's remote_protocol.x gives that very field, so a hostile daemon cannot
 * make the client decode (and allocate for) more than libvirt itself ever sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TypedParamType } from '../../../src/libvirt/constants.js';
import { LibvirtConnection } from '../../../src/libvirt/connection.js';
import {
  REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX,
  REMOTE_DOMAIN_JOB_STATS_MAX,
  REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX,
  REMOTE_NODE_MAX_CELLS,
} from '../../../src/libvirt/generated/protocol.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { writeDomain, writeTypedParams, type TypedParam } from '../../../src/libvirt/wire.js';
import { XdrError, XdrReader, XdrWriter } from '../../../src/libvirt/xdr.js';
import { startFakeDaemon, type FakeDaemon } from './fake-daemon.js';

let daemon: FakeDaemon | undefined;
let conn: LibvirtConnection | undefined;
afterEach(async () => {
  await conn?.close().catch(() => {});
  conn = undefined;
  await daemon?.close();
  daemon = undefined;
});

const dom = { name: 'vm1', uuid: '6a0cfd46-0bb4-4c1b-a2f4-8d6b3ae2e5a1', id: 1 };

/** `count` INT typed parameters written raw (past any bound: the writer would refuse them). */
function rawTypedParams(w: XdrWriter, count: number): void {
  w.uint(count);
  for (let i = 0; i < count; i++) w.string(`p${i}`).int(TypedParamType.INT).int(i);
}

describe('typed-parameter lists are held to their remote_protocol.x bound', () => {
  it(`job stats with REMOTE_DOMAIN_JOB_STATS_MAX + 1 (${REMOTE_DOMAIN_JOB_STATS_MAX + 1}) parameters are refused`, async () => {
    daemon = await startFakeDaemon({
      onCall: (call) => {
        if (call.procedure !== Proc.DOMAIN_GET_JOB_STATS) return;
        const w = new XdrWriter().int(2);
        rawTypedParams(w, REMOTE_DOMAIN_JOB_STATS_MAX + 1);
        call.reply(w.toBuffer());
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 5000 });
    await expect(conn.domainGetJobStats(dom)).rejects.toThrow(/array of 65 items exceeds its limit of 64/);
  });

  it('the refusal names the procedure and the field of remote_protocol.x it broke, and the connection closes', async () => {
    daemon = await startFakeDaemon({
      onCall: (call) => {
        if (call.procedure !== Proc.DOMAIN_GET_JOB_STATS) return;
        const w = new XdrWriter().int(2);
        rawTypedParams(w, REMOTE_DOMAIN_JOB_STATS_MAX + 1);
        call.reply(w.toBuffer());
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 5000 });
    await expect(conn.domainGetJobStats(dom)).rejects.toThrow(
      'cannot decode the reply to REMOTE_PROC_DOMAIN_GET_JOB_STATS: remote_domain_get_job_stats_ret.params: array of 65 items exceeds its limit of 64',
    );
    expect(conn.closed).toBe(true);
  });

  it('job stats at exactly the bound are read', async () => {
    daemon = await startFakeDaemon({
      onCall: (call) => {
        if (call.procedure !== Proc.DOMAIN_GET_JOB_STATS) return;
        const w = new XdrWriter().int(2);
        rawTypedParams(w, REMOTE_DOMAIN_JOB_STATS_MAX);
        call.reply(w.toBuffer());
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 5000 });
    expect(Object.keys((await conn.domainGetJobStats(dom)).params)).toHaveLength(REMOTE_DOMAIN_JOB_STATS_MAX);
  });

  it('a domain stats record with REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX + 1 parameters is refused', async () => {
    daemon = await startFakeDaemon({
      onCall: (call) => {
        if (call.procedure !== Proc.CONNECT_GET_ALL_DOMAIN_STATS) return;
        const w = new XdrWriter(8 * 1024 * 1024).uint(1);
        writeDomain(w, dom);
        // Short field names so the whole reply stays under libvirt's 32 MiB message bound.
        w.uint(REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX + 1);
        for (let i = 0; i <= REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX; i++) w.string('x').int(TypedParamType.INT).int(i);
        call.reply(w.toBuffer());
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 10_000 });
    await expect(conn.connectGetAllDomainStats()).rejects.toThrow(/array of 262145 items exceeds its limit of 262144/);
  });

  it('the migration call refuses to send more than REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX parameters', () => {
    const params: TypedParam[] = Array.from({ length: REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX + 1 }, (_, i) => ({
      field: `p${i}`,
      type: TypedParamType.INT,
      value: i,
    }));
    expect(() => writeTypedParams(new XdrWriter(), params, REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX)).toThrow(RangeError);
  });

  it('the free-pages call refuses to send more page sizes than REMOTE_NODE_MAX_CELLS', async () => {
    daemon = await startFakeDaemon({ onCall: (call) => call.procedure === Proc.NODE_GET_FREE_PAGES && call.reply(new XdrWriter().uint(0).toBuffer()) });
    conn = await LibvirtConnection.open(daemon.uri, { callTimeoutMs: 5000 });
    const sizes = Array.from({ length: REMOTE_NODE_MAX_CELLS + 1 }, () => 4);
    await expect(conn.nodeGetFreePages(sizes, 0, 1)).rejects.toThrow(/exceeds its limit of 1024/);
  });
});

describe('XDR lengths near 2^32 never wrap', () => {
  it('fixedOpaque(2^32 - 2) is an XdrError, not an empty read that leaves the offset in place', () => {
    const r = new XdrReader(Buffer.alloc(64));
    expect(() => r.fixedOpaque(2 ** 32 - 2)).toThrow(XdrError);
    expect(r.remaining).toBe(64);
  });

  it.each([2 ** 31 - 1, 2 ** 31, 2 ** 32 - 3, 2 ** 32 - 1, 2 ** 32, -1, Number.NaN, 1.5])('fixedOpaque(%d) throws XdrError', (length) => {
    expect(() => new XdrReader(Buffer.alloc(16)).fixedOpaque(length)).toThrow(XdrError);
  });

  it('opaque() with a length word near 2^32 and a caller bound above it is still refused as truncated', () => {
    const bytes = new XdrWriter().uint(0xfffffffe).uint(0).toBuffer();
    expect(() => new XdrReader(bytes).opaque(0xffffffff)).toThrow(XdrError);
  });

  it('the writer refuses an opaque over its bound', () => {
    expect(() => new XdrWriter().opaque(Buffer.alloc(17), 16)).toThrow(RangeError);
  });
});
