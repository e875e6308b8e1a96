/**
 * Collector cost per tick: the controller's CPU time and wall time for one collection of a host
 * with 100 domains (libvirt's test driver behind a lab libvirtd, so QEMU does not add noise).
 * Inputs shared with the protocol benchmark (bench/inputs/protocol.json).
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../lab/lab.js';
import '../policies/index.js';
import { Collector } from '../src/cluster/collector.js';
import { HostConnections } from '../src/cluster/connections.js';
import { parseConfig, type Config } from '../src/config/index.js';
import { LibvirtConnection } from '../src/libvirt/index.js';
import { silentLogger } from '../src/log/logger.js';
import { plan } from '../src/policy/index.js';
import { ensureDomains, median } from './protocol.js';

export async function runCollectBench(options: { log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => {});
  const title = 'Collector CPU per tick';
  const inputs = JSON.parse(await readFile(join(import.meta.dirname, 'inputs', 'protocol.json'), 'utf8')) as {
    labDir: string;
    labAddressPrefix: string;
    domains: number;
  };
  const lab = new Lab(inputs.labDir, inputs.labAddressPrefix);
  try {
    await lab.up({ hosts: 1, log: (m) => log(`collect: lab: ${m}`) });
  } catch (error) {
    const why = `a one-host lab could not start (${(error as Error).message.split('\n')[0]})`;
    return { title, markdown: `Not run: ${why}.`, json: { notRun: why } };
  }
  const address = lab.hosts[0].address;
  const uri = lab.hosts[0].testUri;
  try {
    const setup = await LibvirtConnection.open(uri);
    const domains = await ensureDomains(setup, inputs.domains);
    // The daemon frees test:///default's domains when its last connection closes: keep this one open.
    const oneHost = await measure(parseConfig({ hosts: [{ name: 'bench', uri }], stateDir: '/tmp/vb-bench-collect' }), domains, false);
    await setup.close();

    // 100 hosts x 30 VMs: each host its own test-driver instance (a node XML file) behind the daemon.
    const dir = await mkdtemp(join(tmpdir(), 'vb-bench-hosts-'));
    const hosts = [];
    for (let h = 0; h < 100; h++) {
      const doms = Array.from({ length: 30 }, (_, i) => {
        const n = h * 30 + i;
        return `<domain type='test'><name>vm${n}</name><uuid>00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}</uuid><memory unit='MiB'>2048</memory><currentMemory unit='MiB'>2048</currentMemory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`;
      }).join('');
      const file = join(dir, `host${h}.xml`);
      await writeFile(
        file,
        `<node><cpu><mhz>2400</mhz><nodes>1</nodes><sockets>2</sockets><cores>8</cores><threads>2</threads><active>32</active></cpu><memory>268435456</memory>${doms}</node>`,
      );
      hosts.push({ name: `host${h}`, uri: `test+tcp://${address}${file}`, capacity: { cpuCount: 32, memoryMiB: 262144 } });
    }
    const cluster = await measure(parseConfig({ hosts, stateDir: '/tmp/vb-bench-collect' }), 3000, true);
    const rows = [
      { scenario: `1 host x ${domains} domains`, ...oneHost },
      { scenario: '100 hosts x 30 VMs (collect + plan)', ...cluster },
    ];
    for (const r of rows)
      log(
        `collect: ${r.scenario}: ${r.medianCpuMsPerTick.toFixed(1)} ms CPU, ${r.medianWallMsPerTick.toFixed(1)} ms wall per tick, RSS ${r.rssMiB.toFixed(0)} MiB`,
      );
    const markdown = [
      `Hosts are libvirt test-driver instances behind one lab libvirtd (\`${uri}\`; for 100 hosts, one node XML file each), so QEMU adds no noise. 20 ticks after a warm-up tick (which reads capabilities, metadata and XML once per VM); each tick = node info/CPU/memory calls, one get-all-domain-stats call per host, one job-info call per running VM; the 100-host row also runs plan() on each state. Target (issue 4): one tick's collection and planning under 1 s of CPU at 100 hosts x 30 VMs.`,
      '',
      '| scenario | median CPU ms per tick (controller process) | median wall ms per tick | process RSS MiB after |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.scenario} | ${r.medianCpuMsPerTick.toFixed(1)} | ${r.medianWallMsPerTick.toFixed(1)} | ${r.rssMiB.toFixed(0)} |`),
    ].join('\n');
    return { title, markdown, json: rows };
  } finally {
    await lab.down().catch(() => {});
  }
}

async function measure(
  config: Config,
  expectedVms: number,
  withPlan: boolean,
): Promise<{ medianCpuMsPerTick: number; medianWallMsPerTick: number; rssMiB: number }> {
  const connections = new HostConnections(config, { logger: silentLogger() });
  await connections.start();
  try {
    const collector = new Collector(config, connections, { logger: silentLogger() });
    await collector.collect();
    const cpuMs: number[] = [];
    const wallMs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const cpu = process.cpuUsage();
      const t = performance.now();
      const state = await collector.collect();
      if (withPlan) await plan(state);
      wallMs.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
      if (state.vms.length !== expectedVms)
        throw new Error(
          `collected ${state.vms.length} VMs, expected ${expectedVms} (down: ${state.hosts
            .filter((h) => !h.up)
            .map((h) => `${h.name}: ${h.downReason}`)
            .slice(0, 2)
            .join('; ')})`,
        );
    }
    return { medianCpuMsPerTick: median(cpuMs), medianWallMsPerTick: median(wallMs), rssMiB: process.memoryUsage().rss / 2 ** 20 };
  } finally {
    await connections.close();
  }
}
