/**
 * The systemd unit and the installer, checked with systemd's own tools: `systemd-analyze verify`
 * and `security --offline` on the unit, `systemd-sysusers --root` on the staged sysusers file, and
 * the staged installation started the way the unit starts it (with a TypeScript custom policy).
 */
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runTool, tool } from './tools.js';

const UNIT_FILE = join(repoRoot, 'deploy/systemd/virt-balancer.service');

/** Problems `systemd-analyze verify` reports for a unit text (it exits 0 on unknown keys, so read its output). */
async function verifyUnit(text: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vb-unit-'));
  // verify checks that ExecStart's binary exists; CI's node may live elsewhere than /usr/bin.
  const unit = existsSync('/usr/bin/node') ? text : text.replaceAll('/usr/bin/node', process.execPath);
  writeFileSync(join(dir, 'virt-balancer.service'), unit);
  const result = await runTool(tool('systemd-analyze'), ['verify', join(dir, 'virt-balancer.service')]);
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').filter((l) => /virt-balancer\.service/.test(l));
  return result.status === 0 ? lines : [`exit ${result.status}`, ...lines];
}

/** key -> every value it has in the unit (SystemCallFilter= may appear several times). */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) settings.set(match[1], [...(settings.get(match[1]) ?? []), match[2]]);
  }
  return settings;
}

describe('systemd unit', () => {
  const text = readFileSync(UNIT_FILE, 'utf8');
  const settings = unitSettings(text);

  it('passes systemd-analyze verify with no warnings', async () => {
    expect(await verifyUnit(text)).toEqual([]);
  });

  it('the verify check catches a misspelt setting and a missing binary', async () => {
    expect((await verifyUnit(text.replace('ProtectSystem=strict', 'ProtectSystm=strict'))).join('\n')).toMatch(/Unknown key 'ProtectSystm'/);
    expect((await verifyUnit(text.replaceAll('/usr/bin/node', '/usr/bin/no-such-node'))).join('\n')).toMatch(/no-such-node/);
  });

  it('is hardened: dedicated user in group libvirt, read-only system, no capabilities, filtered system calls', async () => {
    const expected: Record<string, string> = {
      User: 'virt-balancer',
      SupplementaryGroups: 'libvirt',
      ExecReload: '/bin/kill -HUP $MAINPID',
      Restart: 'on-failure',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      NoNewPrivileges: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
      StateDirectory: 'virt-balancer',
      ConfigurationDirectory: 'virt-balancer',
      ReadWritePaths: '/var/lib/virt-balancer',
      CapabilityBoundingSet: '',
    };
    for (const [key, value] of Object.entries(expected)) expect({ key, values: settings.get(key) }).toEqual({ key, values: [value] });
    expect(settings.get('SystemCallFilter')).toContain('@system-service');
    expect(settings.get('ExecStart')).toEqual(['/usr/bin/node /opt/virt-balancer/bin/virt-balancer.mjs run --config /etc/virt-balancer/config.yaml']);
  });

  it('scores as well exposed as systemd-analyze security allows for a networked service (<= 2.0)', async () => {
    const result = await runTool(tool('systemd-analyze'), ['security', '--offline=yes', '--no-pager', UNIT_FILE]);
    const match = /Overall exposure level for virt-balancer\.service: ([\d.]+)/.exec(result.stdout + result.stderr);
    expect(match, result.stdout + result.stderr).not.toBeNull();
    expect(Number(match![1])).toBeLessThanOrEqual(2);
  });
});

describe('deploy/install.sh --destdir', () => {
  let dest: string;
  beforeAll(async () => {
    dest = mkdtempSync(join(tmpdir(), 'vb-install-'));
    const result = await runTool('bash', [join(repoRoot, 'deploy/install.sh'), '--destdir', dest], { timeoutMs: 600_000 });
    expect(result.status, result.stderr + result.stdout).toBe(0);
  }, 600_000);

  it('lays out the code, the unit, the sysusers file and an example config', async () => {
    expect(readFileSync(join(dest, 'etc/systemd/system/virt-balancer.service'), 'utf8')).toBe(readFileSync(UNIT_FILE, 'utf8'));
    expect(existsSync(join(dest, 'usr/lib/sysusers.d/virt-balancer.conf'))).toBe(true);
    expect(statSync(join(dest, 'etc/virt-balancer/config.yaml')).mode & 0o777).toBe(0o640);
    expect(readdirSync(join(dest, 'opt/virt-balancer/dist')).sort()).toEqual(['policies', 'src']);
    // The unit's Documentation= links are installed.
    const documentation = unitSettings(readFileSync(UNIT_FILE, 'utf8')).get('Documentation')![0].split(' ');
    for (const link of documentation) expect(existsSync(join(dest, link.replace(/^file:/, ''))), link).toBe(true);
    expect(existsSync(join(dest, 'opt/virt-balancer/dist/policies/balance.js'))).toBe(true);
    // Production dependencies only: tsx (for TypeScript policies) yes, the compiler and test runner no.
    expect(existsSync(join(dest, 'opt/virt-balancer/node_modules/tsx'))).toBe(true);
    expect(existsSync(join(dest, 'opt/virt-balancer/node_modules/vitest'))).toBe(false);
    expect(readlinkSync(join(dest, 'usr/local/bin/virt-balancer'))).toBe('../../../opt/virt-balancer/bin/virt-balancer.mjs');
    expect(statSync(join(dest, 'opt/virt-balancer/bin/virt-balancer.mjs')).mode & 0o111).toBe(0o111);
    expect(lstatSync(join(dest, 'etc/virt-balancer/node_modules/virt-balancer')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dest, 'etc/virt-balancer/node_modules/virt-balancer'))).toBe('../../../opt/virt-balancer');
  });

  it('the sysusers file creates user virt-balancer as a member of libvirt (systemd-sysusers --root)', async () => {
    const result = await runTool(tool('systemd-sysusers'), [`--root=${dest}`]);
    expect(result.status, result.stderr).toBe(0);
    const passwd = readFileSync(join(dest, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^virt-balancer:x:\d+:\d+:[^:]*:\/var\/lib\/virt-balancer:\/usr\/sbin\/nologin$/m);
    expect(readFileSync(join(dest, 'etc/group'), 'utf8')).toMatch(/^libvirt:x:\d+:virt-balancer$/m);
  });

  it("starts the way the unit starts it, from any directory, loading a TypeScript custom policy that imports 'virt-balancer/policy'", async () => {
    const unit = unitSettings(readFileSync(join(dest, 'etc/systemd/system/virt-balancer.service'), 'utf8'));
    const policyDir = join(dest, 'etc/virt-balancer/policies');
    const example = readFileSync(join(repoRoot, 'policies/examples/keep-off-label.ts'), 'utf8');
    writeFileSync(join(policyDir, 'keep-off-label.ts'), example.replace(/from '[^']*policy\/api\.js'/, "from 'virt-balancer/policy'"));
    const config = join(dest, 'etc/virt-balancer/config.yaml');
    chmodSync(config, 0o640);
    // check-config reads the TLS files of the example's qemu+tls:// hosts: give it some.
    const pem = join(dest, 'etc/virt-balancer/test.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    writeFileSync(
      config,
      `${readFileSync(config, 'utf8')
        .replace(/^\s*policyDirs:.*$/m, `  policyDirs: [${policyDir}]`)
        .replace(/^(\s*)# tls: .*$/m, `$1tls: { caFile: ${pem}, certFile: ${pem}, keyFile: ${pem} }`)
        .replace(/^(\s*)# - \{ name: my-policy.*$/m, '$1- { name: keep-off-label, options: { label: gpu } }')}`,
    );
    // The unit's own command line, with its absolute paths moved under the staging root.
    const reroot = (command: string) => command.split(' ').map((arg) => (arg.startsWith('/opt/') || arg.startsWith('/etc/') ? join(dest, arg) : arg));
    const [node, ...args] = reroot(unit.get('ExecStartPre')![0]);
    expect(node).toBe('/usr/bin/node');
    // Any working directory will do (the unit's is the state directory, which systemd creates).
    expect(unit.get('WorkingDirectory')).toEqual(['/var/lib/virt-balancer']);
    const check = await runTool(process.execPath, args, { cwd: mkdtempSync(join(tmpdir(), 'vb-cwd-')) });
    expect(check.stderr).toBe('');
    expect(check.stdout).toContain(
      `${config}: OK (3 hosts; policies balance, maintenance, pin, affinity, keep-off-label; core filters host-up, not-in-standby, not-in-maintenance, vcpus, cpu-topology, cpu-compat, version-monotonic, capacity, headroom, retry-after-failure, no-ping-pong)`,
    );
    // ExecStart's command is the `run` command of the same build.
    const [, ...runArgs] = reroot(unit.get('ExecStart')![0]);
    const help = await runTool(process.execPath, [...runArgs, '--help'], { cwd: tmpdir() });
    expect(help.stdout).toMatch(/^Usage: virt-balancer run \[options\]/m);
    // The command on PATH is the same program.
    const viaPath = await runTool(join(dest, 'usr/local/bin/virt-balancer'), ['check-config', '--config', config], { cwd: tmpdir() });
    // check-config names the schedule's next run times, which move on between the two runs (a
    // 30 s boundary crossed between them failed this on a busy machine): compare the rest.
    const clockFree = (out: string) => out.replace(/; next runs: .*$/m, '; next runs: ...');
    expect(check.stdout).toMatch(/; next runs: \d{4}-\d\d-\d\d /m);
    expect(clockFree(viaPath.stdout)).toBe(clockFree(check.stdout));
    // Three CLI runs, two of them loading the TypeScript policy in a worker thread (tsx started in it).
  }, 60_000);

  it('keeps an existing config when installing again', async () => {
    const config = join(dest, 'etc/virt-balancer/config.yaml');
    writeFileSync(config, '# mine\nhosts: [ { name: a, uri: "qemu:///system" } ]\n');
    const result = await runTool('bash', [join(repoRoot, 'deploy/install.sh'), '--destdir', dest], { timeoutMs: 600_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toMatch(/^# mine/);
  }, 600_000);
});
