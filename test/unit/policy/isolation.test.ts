/**
 * Custom policies that misbehave or cannot be trusted: loops in select/filter/score and at import
 * are stopped and reported by name while the event loop (and with it /healthz and signal
 * handlers) keeps running; only named modules load; untrusted files and directories are refused.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy-schema.js';
import { startMetricsServer } from '../../../src/metrics/server.js';
import { plan } from '../../../src/policy/engine.js';
import { closePolicies, loadPolicies, type LoadedPolicy } from '../../../src/policy/loader.js';
import { host, state, vm } from './fixtures.js';

const repoRoot = join(import.meta.dirname, '..', '..', '..');
let dir: string;
let loaded: LoadedPolicy[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-policies-'));
});
afterEach(async () => {
  await closePolicies(loaded);
  loaded = [];
  rmSync(dir, { recursive: true, force: true });
});

const policyFile = (name: string, body: string) => {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, body, { mode: 0o644 });
  return file;
};
// One hot host and two cool ones: several candidates, each judged against two targets.
const hot = () => state([host('a'), host('b'), host('c')], [vm('v1', 'a', 1), vm('v2', 'a', 1), vm('v3', 'a', 1), vm('v4', 'a', 0.9)]);

describe('a custom policy stuck in a loop', () => {
  for (const [point, code] of [
    ['select', 'select() { for (;;) {} }'],
    ['filter', 'filter() { for (;;) {} }'],
    ['score', 'score() { for (;;) {} }'],
  ] as const) {
    it(`in ${point}: is stopped after policy.policyTimeoutMs, reported with its name, once per plan, while the event loop keeps running`, async () => {
      policyFile('looper', `export default { name: 'looper', ${code} };`);
      const config = policySchema.parse({
        policyDirs: [dir],
        policyTimeoutMs: 300,
        maxMovesPerTick: 3,
        policies: [{ name: 'balance' }, { name: 'capacity' }, { name: 'looper' }],
      });
      loaded = await loadPolicies(config);
      let timerTicks = 0;
      const interval = setInterval(() => timerTicks++, 20);
      const started = performance.now();
      const result = await plan(hot(), { config, policies: loaded }).finally(() => clearInterval(interval));
      const elapsedMs = performance.now() - started;
      expect(result.policyErrors[0]).toMatchObject({
        policy: 'looper',
        message: `${point} threw: did not return within 300 ms (policy.policyTimeoutMs); its worker thread was stopped`,
      });
      // Later calls in the same plan fail at once instead of costing another timeout each.
      expect(result.policyErrors.slice(1).every((e) => e.policy === 'looper' && /not called: .* earlier in this plan/.test(e.message))).toBe(true);
      // Without a failed select the others' candidates still move; no move depends on a failed filter or score.
      if (point === 'select') {
        expect(result.moves.length).toBeGreaterThan(0);
        expect(result.moves.every((m) => m.from === 'a')).toBe(true);
      } else expect(result.moves).toEqual([]);
      // The controller's thread was free: timers fired throughout (a loop in-process allows none).
      expect(timerTicks).toBeGreaterThanOrEqual(5);
      expect(elapsedMs).toBeLessThan(300 * 4 + 3000);
      // The next plan tries the policy again in a fresh worker (and stops it again).
      const again = await plan(hot(), { config, policies: loaded });
      expect(again.policyErrors[0].message).toMatch(/did not return within 300 ms/);
    });
  }

  it('does not stop /healthz from answering while it loops', async () => {
    policyFile('looper', `export default { name: 'looper', score() { for (;;) {} } };`);
    const config = policySchema.parse({ policyDirs: [dir], policyTimeoutMs: 3000, policies: [{ name: 'balance' }, { name: 'looper' }] });
    loaded = await loadPolicies(config);
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const server = await startMetricsServer(`127.0.0.1:${port}`, new Registry(), () => ({ ok: true, detail: {} }));
    try {
      const address = { port };
      const planning = plan(hot(), { config, policies: loaded });
      await new Promise((r) => setTimeout(r, 300));
      const asked = performance.now();
      const response = await fetch(`http://127.0.0.1:${address.port}/healthz`);
      expect(response.status).toBe(200);
      expect(performance.now() - asked).toBeLessThan(1000);
      expect((await planning).policyErrors[0].policy).toBe('looper');
    } finally {
      server.close();
    }
  });

  it('at import: loading stops it after the import timeout and names the module', async () => {
    const file = policyFile('import-loop', `for (;;) {}\nexport default { name: 'import-loop', score: () => 1 };`);
    const config = policySchema.parse({ policyDirs: [dir], policies: [{ name: 'import-loop' }] });
    await expect(loadPolicies(config, { importTimeoutMs: 1000 })).rejects.toThrow(
      `policy module ${file} did not finish loading within 1000 ms (a loop at import time?); it was stopped`,
    );
  });

  it('simulate finishes its ticks and names the policy (the CLI hung for ever)', async () => {
    policyFile('looper', `export default { name: 'looper', score() { for (;;) {} } };`);
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      `hosts: [ { name: kvm1, uri: "qemu:///system" } ]\npolicy:\n  policyDirs: [ ${dir} ]\n  policyTimeoutMs: 200\n  policies: [ { name: balance }, { name: looper } ]\n`,
    );
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin/virt-balancer.js'),
        'simulate',
        '--config',
        config,
        '--scenario',
        join(repoRoot, 'deploy/scenarios/hot-host.yaml'),
        '--ticks',
        '3',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null | 'still running'>((resolve) => {
      const timer = setTimeout(() => (child.kill('SIGKILL'), resolve('still running')), 30_000);
      child.once('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    expect(code, output).toBe(0);
    expect((JSON.parse(output) as unknown[]).length).toBe(3);
  }, 40_000);
});

describe('the context a custom policy sees in its worker', () => {
  it('answers as the in-process context does (projected hosts, overloaded, forecast, VMs on a host, placement)', async () => {
    const filter = `filter(vm, host, ctx) { const p = ctx.projected(host.name); return [ctx.vmsOn(host.name).length, ctx.placeOf(vm.uuid), ctx.overloaded(host.name), ctx.forecastCpu(host.name).toFixed(3), p.cpuRatio.toFixed(3), p.vmUuids.size, ctx.host(host.name).name, ctx.vm(vm.uuid).name, ctx.cpuShare(vm, host).toFixed(3), ctx.options.tag].join('|'); }`;
    policyFile('probe', `export default { name: 'probe', ${filter} };`);
    const config = policySchema.parse({ policyDirs: [dir], maxMovesPerTick: 3, policies: [{ name: 'balance' }, { name: 'probe', options: { tag: 'x' } }] });
    loaded = await loadPolicies(config);
    const inProcess = [loaded[0], { ...loaded[1], policy: (await import(join(dir, 'probe.mjs'))).default, source: 'in-process' }];
    const isolated = await plan(hot(), { config, policies: loaded });
    const direct = await plan(hot(), { config, policies: inProcess });
    expect(isolated.policyErrors).toEqual([]);
    expect(isolated.skipped.length).toBeGreaterThan(0);
    expect(isolated.skipped.map((x) => x.reason)).toEqual(direct.skipped.map((x) => x.reason));
    expect(isolated.skipped[0].reason).toMatch(/probe: \d+\|a\|(true|false)\|[\d.]+\|[\d.]+\|\d+\|[bc]\|v\d\|[\d.]+\|x/);
  });
});

describe('which policy modules load', () => {
  it('only the modules config names: another file in the directory is never imported', async () => {
    const marker = join(dir, 'imported');
    policyFile(
      'unnamed',
      `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'x'); export default { name: 'unnamed', score: () => 1 };`,
    );
    policyFile('named', `export default { name: 'named', score: () => 1 };`);
    const config = policySchema.parse({ policyDirs: [dir], policies: [{ name: 'balance' }, { name: 'named' }] });
    loaded = await loadPolicies(config);
    expect(loaded.map((l) => [l.policy.name, l.source])).toEqual([
      ['balance', 'built-in'],
      ['named', join(dir, 'named.mjs')],
    ]);
    expect(existsSync(marker)).toBe(false);
  });

  it('a module is named after its policy', async () => {
    const file = policyFile('alpha', `export default { name: 'beta', score: () => 1 };`);
    const config = policySchema.parse({ policyDirs: [dir], policies: [{ name: 'alpha' }] });
    await expect(loadPolicies(config)).rejects.toThrow(
      `policy module ${file} defines a policy named "beta", not "alpha"; a module is named after its policy (rename the file or the policy)`,
    );
  });

  it('lists the policies it could load when a name is unknown, without importing them', async () => {
    policyFile('mine', `throw new Error('imported');`);
    const config = policySchema.parse({ policyDirs: [dir], policies: [{ name: 'nope' }] });
    await expect(loadPolicies(config)).rejects.toThrow(
      /no policy named "nope"; available: balance, .*consolidation, mine \(custom policies load from <name>\.ts, \.js or \.mjs in policy\.policyDirs\)/,
    );
  });
});

describe("a policy's options are checked when it loads", () => {
  it('a bad value for a built-in policy names the config path, the value and the fix', async () => {
    const config = policySchema.parse({ policies: [{ name: 'maintenance' }, { name: 'balance', options: { crowdedFactor: '3', crowdShedMaxVms: -1 } }] });
    await expect(loadPolicies(config)).rejects.toThrow(
      'balance: policy.policies[1].options.crowdedFactor is "3": it must be a number above 0 (vCPUs per CPU as a multiple of the cluster\'s; default 3); policy.policies[1].options.crowdShedMaxVms is -1: it must be a whole number of VMs, 0 or more (0: a crowded host sheds none; default 6)',
    );
  });

  it('a misspelt option is refused with the names the policy takes; a policy without options takes none', async () => {
    await expect(loadPolicies(policySchema.parse({ policies: [{ name: 'balance', options: { crowdedfactor: 2 } }] }))).rejects.toThrow(
      'balance: policy.policies[0].options.crowdedfactor: not an option of this policy (its options: crowdedFactor, crowdShedMaxVms); check the spelling',
    );
    await expect(loadPolicies(policySchema.parse({ policies: [{ name: 'affinity', options: { crowdedFactor: 2 } }] }))).rejects.toThrow(
      'affinity: policy.policies[0].options.crowdedFactor: this policy takes no options (remove it)',
    );
    loaded = await loadPolicies(policySchema.parse({ policies: [{ name: 'balance', options: { crowdedFactor: 2.5, crowdShedMaxVms: 0 } }] }));
    expect(loaded.map((l) => l.options)).toEqual([{ crowdedFactor: 2.5, crowdShedMaxVms: 0 }]);
  });

  it("a custom policy's checkOptions runs in its worker on the configured options", async () => {
    policyFile(
      'labelled',
      `export default { name: 'labelled', score: () => 1, checkOptions: (o) => (typeof o.label === 'string' ? [] : ['label is ' + JSON.stringify(o.label) + ': set it to a host label name']) };`,
    );
    const withLabel = (options: Record<string, unknown>) => policySchema.parse({ policyDirs: [dir], policies: [{ name: 'labelled', options }] });
    await expect(loadPolicies(withLabel({ label: 7 }))).rejects.toThrow('labelled: policy.policies[0].options.label is 7: set it to a host label name');
    loaded = await loadPolicies(withLabel({ label: 'gpu' }));
    expect(loaded.map((l) => l.policy.name)).toEqual(['labelled']);
  });

  it('a custom checkOptions that throws fails the load naming the module', async () => {
    const file = policyFile('fragile', `export default { name: 'fragile', score: () => 1, checkOptions: () => { throw new Error('boom'); } };`);
    await expect(loadPolicies(policySchema.parse({ policyDirs: [dir], policies: [{ name: 'fragile' }] }))).rejects.toThrow(
      `policy module ${file}: its checkOptions failed on the configured options: boom`,
    );
  });
});

describe('untrusted policy files and directories', () => {
  const config = () => policySchema.parse({ policyDirs: [dir], policies: [{ name: 'named' }] });

  it('refuses a directory writable by group', async () => {
    policyFile('named', `export default { name: 'named', score: () => 1 };`);
    chmodSync(dir, 0o775);
    await expect(loadPolicies(config())).rejects.toThrow(
      `policy directory ${dir} is writable by group (mode 0775); anyone who can write it runs code as virt-balancer: chmod go-w ${dir}`,
    );
  });

  it('refuses a file writable by others', async () => {
    const file = policyFile('named', `export default { name: 'named', score: () => 1 };`);
    chmodSync(file, 0o646);
    await expect(loadPolicies(config())).rejects.toThrow(`policy file ${file} is writable by others (mode 0646)`);
  });

  it('refuses a file owned by another user', async () => {
    const file = policyFile('named', `export default { name: 'named', score: () => 1 };`);
    chownSync(file, 65534, 65534);
    await expect(loadPolicies(config())).rejects.toThrow(
      `policy file ${file} is owned by uid 65534, not root or the user virt-balancer runs as (uid ${process.getuid!()}); its code would run with our privileges: chown root ${file}`,
    );
  });

  it('loads a file owned by root in a directory only root may write', async () => {
    policyFile('named', `export default { name: 'named', score: () => 1 };`);
    chmodSync(dir, 0o755);
    loaded = await loadPolicies(config());
    expect(loaded.map((l) => l.policy.name)).toEqual(['named']);
  });
});
