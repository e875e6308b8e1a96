import { describe, expect, it } from 'vitest';
import { tlsTable, type TlsRun } from '../../../bench/techniques.js';

const GiB = 2 ** 30;
describe('technique benchmark: the TLS rows', () => {
  it('give medians over completed intact runs: MiB/s and QEMU CPU per GiB, per mode', () => {
    const run = (tls: TlsRun['tls'], totalSeconds: number, cpu: number, extra: Partial<TlsRun> = {}): TlsRun => ({
      profile: 'light',
      tls,
      repeat: 1,
      ok: true,
      totalSeconds,
      bytesMoved: GiB / 4,
      qemuCpuSeconds: cpu,
      heartbeatIntact: true,
      ...extra,
    });
    const table = tlsTable([run('off', 10, 4), run('required', 16, 6), run('required', 99, 99, { heartbeatIntact: false })]);
    expect(table).toContain('| light | off | 1/1 | 1/1 | 10.00 | 25.6 | 16.0 |');
    expect(table).toContain('| light | required | 2/2 | 1/2 | 16.00 | 16.0 | 24.0 |');
    expect(tlsTable([])).toBe('Not run (see the log).');
  });
});
