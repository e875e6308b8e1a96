import { describe, expect, it } from 'vitest';
import { median, parseVirshTimings } from '../../../bench/protocol.js';

describe('protocol bench helpers', () => {
  it('reads the per-command times virsh -t prints', () => {
    const out = 'CPU model: x86_64\n(Time: 0.132 ms)\n\nDomain: a\n(Time: 12.5 ms)\n';
    expect(parseVirshTimings(out)).toEqual([0.132, 12.5]);
    expect(parseVirshTimings('no timings')).toEqual([]);
  });
  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
