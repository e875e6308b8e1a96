/**
 * Collector cost per tick: the controller's CPU time and wall time for one collection of a host
 * with 100 domains (libvirt's test driver behind a lab libvirtd, so QEMU does not add noise).
 * Inputs shared with the protocol benchmark (bench/inputs/protocol.json).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Collector } from '../src/cluster/collector.js';
import { HostConnections } from '../src/cluster/connections.js';
import { parseConfig } from '../src/config/index.js';
import { LibvirtConnection } from '../src/libvirt/index.js';
import { silentLogger } from '../src/log/logger.js';
import { ensureDomains, median } from './protocol.js';

export async function runCollectBench(options: { log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => {});
  const title = 'Collector CPU per tick';
  const inputs = JSON.parse(await readFile(join(import.meta.dirname, 'inputs', 'protocol.json'), 'utf8')) as { labDir: string; labAddressPrefix: string; domains: number };
  const { Lab } = await import('../test/lab/lab.js');
  const lab = new Lab(inputs.labDir, inputs.labAddressPrefix);
  try {
    await lab.up({ hosts: 1, log: (m) => log(`collect: lab: ${m}`) });
  } catch (error) {
    const why = `a one-host lab could not start (${(error as Error).message.split('\n')[0]})`;
    return { title, markdown: `Not run: ${why}.`, json: { notRun: why } };
  }
  const uri = lab.hosts[0].testUri;
  try {
    const setup = await LibvirtConnection.open(uri);
    const domains = await ensureDomains(setup, inputs.domains);
    await setup.close();
    const config = parseConfig({ hosts: [{ name: 'bench', uri }], stateDir: '/tmp/vb-bench-collect' });
    const connections = new HostConnections(config, { logger: silentLogger() });
    await connections.start();
    const collector = new Collector(config, connections, { logger: silentLogger() });
    await collector.collect(); // first tick reads capabilities, metadata and XML once per VM
    const cpuMs: number[] = [];
    const wallMs: number[] = [];
    for (let i = 0; i < 50; i++) {
      const cpu = process.cpuUsage();
      const t = performance.now();
      const state = await collector.collect();
      wallMs.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      cpuMs.push((used.user + used.system) / 1000);
      if (state.vms.length !== domains) throw new Error(`collected ${state.vms.length} VMs, expected ${domains}`);
    }
    await connections.close();
    const summary = { domains, ticks: 50, medianCpuMsPerTick: median(cpuMs), medianWallMsPerTick: median(wallMs) };
    log(`collect: ${domains} domains: ${summary.medianCpuMsPerTick.toFixed(1)} ms CPU, ${summary.medianWallMsPerTick.toFixed(1)} ms wall per tick`);
    const markdown = [
      `One host (\`${uri}\`, libvirt's test driver) with ${domains} domains; 50 ticks after a warm-up tick; each tick = node info/CPU/memory calls, one get-all-domain-stats call, one job-info call per running VM.`,
      '',
      '| domains | median CPU ms per tick (controller process) | median wall ms per tick |',
      '|---|---|---|',
      `| ${domains} | ${summary.medianCpuMsPerTick.toFixed(1)} | ${summary.medianWallMsPerTick.toFixed(1)} |`,
    ].join('\n');
    return { title, markdown, json: summary };
  } finally {
    await lab.down().catch(() => {});
  }
}
