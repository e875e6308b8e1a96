import { describe, expect, it } from 'vitest';
import { bytesThatMustMove, predictionErrorTable, techniquesTable, type MigrationRun, type TechniqueInputs } from '../../../bench/techniques.js';

const MiB = 1048576;
const inputs = {
  labDir: '/tmp/x',
  labAddressPrefix: '127.0.6.',
  labDownAfter: true,
  sourceHost: 'lab1',
  targetHost: 'lab2',
  bandwidthMiBps: 48,
  downtimeBudgetMs: 300,
  deadlineSeconds: 30,
  repeats: 2,
  vm: { vcpus: 1, memoryMiB: 192, workloadMiB: 96, cpuBusyPercent: 20 },
  profiles: [
    { name: 'idle', dirtyMiBps: 0 },
    { name: 'light', dirtyMiBps: 12 },
  ],
} satisfies TechniqueInputs;
const run = (o: Partial<MigrationRun>): MigrationRun => ({
  profile: 'light',
  arm: 'virt-balancer',
  repeat: 1,
  technique: 'xbzrle',
  converged: true,
  totalSeconds: 4,
  downtimeMs: 20,
  bytesMoved: 96 * MiB,
  heartbeatIntact: true,
  predicted: { totalSeconds: 2, downtimeMs: 10, bytes: 1, converges: true },
  ...o,
});

describe('technique benchmark report', () => {
  it('takes the bound from bytes idle runs really moved, not the configured memory', () => {
    expect(bytesThatMustMove([run({ profile: 'idle', bytesMoved: 60 * MiB }), run({ profile: 'idle', bytesMoved: 70 * MiB })], 'idle')).toBe(65 * MiB);
    const table = techniquesTable([run({ profile: 'idle', bytesMoved: 48 * MiB, totalSeconds: 1 })], inputs);
    expect(table).toContain('| 1.00 |'); // 48 MiB at 48 MiB/s
  });
  it('counts converged and intact runs apart, and takes medians over intact runs only', () => {
    const table = techniquesTable([run({ totalSeconds: 4 }), run({ repeat: 2, totalSeconds: 1, heartbeatIntact: false, guestPanicked: true })], inputs);
    const row = table.split('\n').find((l) => l.startsWith('| light'))!;
    expect(row).toContain('| 2/2 |');
    expect(row).toContain('| 1/2 (1 panicked) |');
    expect(row).toContain('| 4.00 |');
    expect(row).toContain('| 24.0 |'); // 96 MiB in 4 s
  });
  it('groups prediction errors by technique and shows them calibrated (leave-one-out)', () => {
    const runs = [
      run({ technique: 'precopy', totalSeconds: 4 }),
      run({ technique: 'precopy', repeat: 2, totalSeconds: 4.4 }),
      run({ technique: 'precopy', repeat: 3, totalSeconds: 3.6 }),
      run({ technique: 'hybrid', totalSeconds: 3 }),
    ];
    const table = predictionErrorTable(runs);
    const pre = table.split('\n').find((l) => l.startsWith('| precopy'))!;
    // |4-2|/4 = 50 % as modelled; each run scaled by the others' median ratio: 0 %, 14 %, 17 %.
    expect(pre).toContain('| 3 | light | 2.00 | 4.00 | 50% | 14% |');
    expect(table.split('\n').find((l) => l.startsWith('| hybrid'))).toContain('n/a (one run)');
  });
});
