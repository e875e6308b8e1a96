/**
 * Node CPU and memory stats on replies recorded from libvirt 11.3: the parameter count libvirt
 * reports for nparams 0 is asked once per connection, so a tick's node stats cost one call each.
 */
import { describe, expect, it } from 'vitest';
import { LibvirtConnection } from '../../../src/libvirt/index.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { loadRecording, startRecordedDaemon } from './recorded-daemon.js';

describe('node stats parameter count', () => {
  it('asks the count once per connection: CPU stats and memory stats read three times each cost 4 calls each, not 6', async () => {
    const daemon = await startRecordedDaemon(loadRecording('lab1-observe'));
    const conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0 });
    try {
      const first = await conn.nodeGetCpuStats(-1);
      for (let i = 0; i < 2; i++) {
        expect(Object.keys(await conn.nodeGetCpuStats(-1)).sort()).toEqual(Object.keys(first).sort());
        expect(Object.keys(await conn.nodeGetMemoryStats(-1))).toEqual(expect.arrayContaining(['total', 'free']));
      }
      await conn.nodeGetMemoryStats(-1);
      expect(daemon.unexpected).toEqual([]);
      expect(daemon.answered.filter((p) => p === Proc.NODE_GET_CPU_STATS)).toHaveLength(4);
      expect(daemon.answered.filter((p) => p === Proc.NODE_GET_MEMORY_STATS)).toHaveLength(4);
    } finally {
      await conn.close();
      await daemon.close();
    }
  });
});
