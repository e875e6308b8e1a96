import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/index.js';
import { libvirtDaemonKey, parseLibvirtUri } from '../../../src/libvirt/uri.js';
import { oneHost, problemsOf } from './problems.js';

const cases = join(import.meta.dirname, '../../cases');

async function problems(file: string): Promise<{ path: string; message: string }[]> {
  try {
    await loadConfig(file);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error(`${file} was accepted`);
}

describe('thresholds written as ratios (case ratio-thresholds)', () => {
  it('refuses each *Percent threshold between 0 and 1, naming the field and "did you mean 80?"', async () => {
    const found = await problems(join(cases, 'ratio-thresholds.config.yaml'));
    expect(found.map((p) => p.path)).toEqual(['policy.cpuHighPercent', 'policy.cpuLowPercent', 'policy.memoryHighPercent', 'policy.hysteresisPercent']);
    expect(found[0].message).toContain('did you mean 80?');
    expect(found[1].message).toContain('did you mean 20?');
    expect(found[2].message).toContain('did you mean 85?');
    expect(found[3].message).toContain('did you mean 5?');
    expect(found[0].message).toContain('percentBelowOneIntended');
  });

  it('accepts them when the operator states they are meant, and accepts 0 and whole percentages', () => {
    expect(problemsOf({ ...oneHost, policy: { cpuHighPercent: 0.8, cpuLowPercent: 0.2, percentBelowOneIntended: true } })).toEqual([]);
    expect(problemsOf({ ...oneHost, policy: { cpuHighPercent: 80, cpuLowPercent: 0, hysteresisPercent: 0 } })).toEqual([]);
  });
});

describe('every *Percent setting, not only the thresholds, is checked for ratios', () => {
  it('refuses spread and consolidation percentages between 0 and 1 with "did you mean"', () => {
    const spread = problemsOf({ ...oneHost, policy: { spread: { tolerancePercent: 0.2, memoryTolerancePercent: 0.1, minCpuPercent: 0.5 } } });
    expect(spread.map((p) => p.path)).toEqual(['policy.spread.tolerancePercent', 'policy.spread.memoryTolerancePercent', 'policy.spread.minCpuPercent']);
    expect(spread.map((p) => /did you mean (\d+)\?/.exec(p.message)?.[1])).toEqual(['20', '10', '50']);
    const packing = problemsOf({ ...oneHost, policy: { goal: 'consolidate', consolidation: { targetUtilizationPercent: 0.7 } } });
    expect(packing.map((p) => p.path)).toContain('policy.consolidation.targetUtilizationPercent');
    expect(problemsOf({ ...oneHost, policy: { spread: { tolerancePercent: 20, minCpuPercent: 0 } } })).toEqual([]);
  });
});

describe('a high threshold of 1 and the knock-on message', () => {
  it('refuses memoryHighPercent: 1.0 and cpuHighPercent: 1 as ratios ("did you mean 100?"), and says nothing more about cpuLowPercent', () => {
    const found = problemsOf({ ...oneHost, policy: { cpuHighPercent: 1, memoryHighPercent: 1.0, cpuLowPercent: 30 } });
    expect(found.map((p) => p.path)).toEqual(['policy.cpuHighPercent', 'policy.memoryHighPercent']);
    expect(found[1].message).toContain('did you mean 100?');
  });
  it('a plain inverted pair says how to fix it', () => {
    const [found] = problemsOf({ ...oneHost, policy: { cpuHighPercent: 50, cpuLowPercent: 60 } });
    expect(found).toEqual({
      path: 'policy.cpuLowPercent',
      message: expect.stringMatching(/is 60, not below cpuHighPercent \(50\).*lower cpuLowPercent or raise cpuHighPercent/),
    });
  });
});

describe('multifd zero-copy with compression', () => {
  it('is refused, naming both settings (QEMU sends zero-copy only uncompressed)', () => {
    const [found] = problemsOf({ ...oneHost, migration: { techniques: { multifd: { compression: 'zstd', zeroCopy: true } } } });
    expect(found.path).toBe('migration.techniques.multifd.zeroCopy');
    expect(found.message).toMatch(/cannot be combined with compression: zstd.*zeroCopy: false, or compression: none/);
  });
});

describe('one libvirt daemon listed twice (case same-libvirtd-twice)', () => {
  it('refuses the duplicate entries, naming each and the entry it repeats', async () => {
    const found = await problems(join(cases, 'same-libvirtd-twice.config.yaml'));
    expect(found.map((p) => p.path)).toEqual(['hosts[1].uri', 'hosts[3].uri']);
    expect(found[0].message).toContain('"kvm1-mgmt"');
    expect(found[0].message).toContain('hosts[0] "kvm1"');
    expect(found[1].message).toContain('"kvm2-b"');
    expect(found[1].message).toContain('hosts[2] "kvm2"');
  });

  it('compares URIs after normalisation: default port, trailing slash, empty query, case, user', () => {
    const key = (uri: string) => libvirtDaemonKey(parseLibvirtUri(uri));
    const base = key('qemu+tcp://kvm1.example.net/system');
    for (const same of [
      'qemu+tcp://kvm1.example.net:16509/system',
      'qemu+tcp://kvm1.example.net/system/',
      'qemu+tcp://kvm1.example.net/system?',
      'QEMU+TCP://KVM1.Example.NET/system',
      'qemu+tcp://admin@kvm1.example.net/system',
    ]) {
      expect(key(same), same).toBe(base);
    }
    expect(key('qemu+tls://h/system')).toBe(key('qemu://h:16514/system'));
    expect(key('qemu+ssh://h/system')).toBe(key('qemu+ssh://root@h:22/system?keyfile=/k'));
    // Different daemons stay apart.
    expect(key('qemu+tcp://kvm1.example.net:16510/system')).not.toBe(base);
    expect(key('qemu+tcp://kvm1.example.net/session')).not.toBe(base);
    expect(key('qemu+ssh://h/system')).not.toBe(key('qemu+ssh://h/system?socket=/other'));
  });

  it("checks URIs with the client's own parser: what the client refuses at connect, config refuses", () => {
    const uriProblem = (uri: string) =>
      problemsOf({ hosts: [{ name: 'kvm1', uri }] })
        .map((p) => `${p.path}: ${p.message}`)
        .join('\n');
    expect(uriProblem('qemu+libssh://h/system')).toMatch(/hosts\[0\]\.uri: .*transport "libssh" is not supported/);
    expect(uriProblem('qemu+unix://h/system')).toMatch(/takes no host/);
    expect(uriProblem('qemu+tcp://h:99999/system')).toMatch(/port "99999" is not a number from 1 to 65535/);
    expect(uriProblem('lxc:///system')).toMatch(/driver "lxc" is not supported/);
    expect(uriProblem('qemu+tcp://h')).toMatch(/has no path; add \/system/);
    expect(uriProblem('qemu+tcp://h/system')).toBe('');
  });
});

describe('durations are bounded by what Node timers hold', () => {
  it('refuses callTimeoutSeconds: 3000000 and pollIntervalMs: 3e9, naming the limit', () => {
    const found = problemsOf({ ...oneHost, libvirt: { callTimeoutSeconds: 3_000_000 }, migration: { pollIntervalMs: 3e9 } });
    expect(found.map((p) => p.path)).toEqual(['libvirt.callTimeoutSeconds', 'migration.pollIntervalMs']);
    expect(found[0].message).toContain('at most 2147483 s');
    expect(found[1].message).toContain('at most 2147483647 ms');
  });

  it('accepts the longest duration a timer holds', () => {
    expect(problemsOf({ ...oneHost, libvirt: { callTimeoutSeconds: 2147483 } })).toEqual([]);
  });
});

describe('error messages about values', () => {
  it('names NaN and Infinity as such (not "number null")', () => {
    const found = problemsOf({ ...oneHost, policy: { cpuHighPercent: Number.NaN, bandwidthMiBps: Number.POSITIVE_INFINITY } });
    const text = found.map((p) => `${p.path}: ${p.message}`).join('\n');
    expect(text).toContain('policy.cpuHighPercent');
    expect(text).toContain('NaN (.nan)');
    expect(text).toContain('policy.bandwidthMiBps');
    expect(text).toContain('Infinity (.inf)');
    expect(text).not.toContain('null');
  });

  it('quotes at most 80 characters of a bad value', () => {
    const garbage = 'x'.repeat(1_000_000);
    const found = problemsOf({ ...oneHost, stateDir: 42, log: { level: garbage } });
    const text = found.map((p) => p.message).join('\n');
    expect(text.length).toBeLessThan(2000);
    expect(text).toContain('(1000000 characters)');
    const uri = problemsOf({ hosts: [{ name: 'kvm1', uri: `qemu+tcp://h/system${'\u0000'.repeat(100_000)}#` }] });
    expect(uri[0].message).toContain('(100020 characters)');
    expect(uri[0].message.length).toBeLessThan(1000);
  });

  it('a YAML alias bomb is a config error (exit 2) that names the file', async () => {
    const file = join(tmpdir(), `vb-alias-bomb-${process.pid}.yaml`);
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    await writeFile(file, `${levels.join('\n')}\nhosts: [{ name: kvm1, uri: "qemu:///system" }]\n`);
    const error = await loadConfig(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(file);
    expect((error as ConfigError).message).toMatch(/alias/i);
  });

  it('binary garbage as a config is named as such, not echoed back', async () => {
    const file = join(tmpdir(), `vb-garbage-${process.pid}.yaml`);
    const bytes = Buffer.alloc(2_000_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 256;
    await writeFile(file, bytes);
    const error = (await loadConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('is not a YAML text file');
    expect(error.message.length).toBeLessThan(300);
  });
});

describe('stateDir too long for the control socket', () => {
  it('refuses a stateDir whose control.sock path is over the 107 bytes a Unix socket path may have, naming stateDir and the limit', async () => {
    const file = join(tmpdir(), `vb-long-state-${process.pid}.yaml`);
    const longDir = `/var/lib/${'x'.repeat(90)}`; // 99 bytes: control.sock makes 112
    await writeFile(file, `hosts:\n  - name: kvm1\n    uri: qemu+tcp://10.0.0.1/system\nstateDir: ${longDir}\n`);
    const found = await problems(file);
    expect(found).toHaveLength(1);
    expect(found[0].path).toBe('stateDir');
    expect(found[0].message).toContain('(112 bytes; a Unix socket path has at most 107)');
    const fits = `/var/lib/${'x'.repeat(85)}`; // 94 + 13 = 107 bytes
    await writeFile(file, `hosts:\n  - name: kvm1\n    uri: qemu+tcp://10.0.0.1/system\nstateDir: ${fits}\n`);
    expect((await loadConfig(file)).stateDir).toBe(fits);
  });
});
