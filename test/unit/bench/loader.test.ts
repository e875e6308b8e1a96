import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTraceDays, loadTraceDay, parseTraceText } from '../../../bench/traces/loader.js';

const lines = (values: number[]) => values.join('\n') + '\n';

describe('trace loader', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vb-traces-'));
    await mkdir(join(root, '20110303'));
    await mkdir(join(root, 'not-a-day'));
    await writeFile(join(root, '20110303', 'planetlab1_nrl_dcs_qmul_ac_uk_ rnp_dcc_ufjf'), lines([10, 20, 30]));
    await writeFile(join(root, '20110303', 'aladdin_planetlab_extranet_uni-passau_de_root'), lines([0, 100, 5]));
    await writeFile(join(root, '20110303', 'a name with  two spaces'), lines([1, 2, 3]));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists only YYYYMMDD folders', async () => {
    expect(await listTraceDays(root)).toEqual(['20110303']);
  });

  it('loads files whose names contain spaces, in code-point order, as ratios', async () => {
    // Three samples per file here; real days hold 288, the default the loader checks.
    const day = await loadTraceDay(root, '20110303', { expectedSamples: 3 });
    expect(day.vms.map((v) => v.name)).toEqual([
      'a name with  two spaces',
      'aladdin_planetlab_extranet_uni-passau_de_root',
      'planetlab1_nrl_dcs_qmul_ac_uk_ rnp_dcc_ufjf',
    ]);
    expect(Array.from(day.vms[2].utilization)).toEqual([0.1, 0.2, 0.3]);
    expect(Array.from(day.vms[1].utilization)).toEqual([0, 1, 0.05]);
  });

  it('parses integers 0-100 as utilisation ratios', () => {
    expect(Array.from(parseTraceText('0\n55\n100\n', 'f', 3))).toEqual([0, 0.55, 1]);
    expect(Array.from(parseTraceText('7\r\n8\r\n9', 'f', 3))).toEqual([0.07, 0.08, 0.09]);
  });

  it('names the file and line of a bad sample', () => {
    expect(() => parseTraceText('1\nx\n3\n', '20110303/some vm', 3)).toThrow(/"20110303\/some vm" line 2: "x" is not an integer/);
    expect(() => parseTraceText('1\n101\n3\n', 'f', 3)).toThrow(/line 2: 101 is above 100/);
  });

  it('names the file when the sample count is wrong', async () => {
    expect(() => parseTraceText('1\n2\n', 'short file', 3)).toThrow(/"short file": expected 3 lines.*found 2/);
    // Real loading checks for 288 samples; the three-line files above fail that, naming one of them.
    await expect(loadTraceDay(root, '20110303')).rejects.toThrow(/expected 288 lines/);
  });

  it('says which days exist when a day is missing', async () => {
    await expect(loadTraceDay(root, '20990101')).rejects.toThrow(/days available: 20110303/);
  });
});
