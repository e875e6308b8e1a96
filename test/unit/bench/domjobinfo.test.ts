import { describe, expect, it } from 'vitest';
import { parseDomJobInfo } from '../../../bench/techniques.js';

describe('virsh domjobinfo parsing (technique benchmark, virsh arm)', () => {
  it('reads elapsed time, downtime and data processed with units', () => {
    const text = [
      'Job type:         Completed',
      'Operation:        Outgoing migration',
      'Time elapsed:     338          ms',
      'Time elapsed w/o network: 335          ms',
      'Data processed:   18.500 MiB',
      'Data remaining:   0.000 B',
      'Memory processed: 18.000 MiB',
      'Total downtime:   23           ms',
    ].join('\n');
    expect(parseDomJobInfo(text)).toEqual({ elapsedMs: 338, downtimeMs: 23, dataProcessedBytes: 18.5 * 1048576 });
  });
  it('falls back to memory processed and leaves absent fields undefined', () => {
    expect(parseDomJobInfo('Job type: Cancelled\nMemory processed: 1.500 GiB\n')).toEqual({
      elapsedMs: undefined,
      downtimeMs: undefined,
      dataProcessedBytes: 1.5 * 1024 ** 3,
    });
  });
});
