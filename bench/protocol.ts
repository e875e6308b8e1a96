/**
 * Protocol speed (issue 2's target): our libvirt client against `virsh` on the same daemon, side by
 * side in one run. The daemon is a one-host lab libvirtd; the work is on its test driver with 100
 * domains, so neither side waits on QEMU.
 *
 * - node-get-info latency: per-call medians. virsh runs all its calls in ONE process on one
 *   connection (`virsh -t "nodeinfo; nodeinfo; ..."`, per-command times it prints itself), which is
 *   virsh at its fastest; a fresh `virsh nodeinfo` process per call (what shell scripts do) is
 *   reported too.
 * - get-all-domain-stats throughput: calls (each returning all 100 domains, all stat groups) per
 *   second, sequential on one connection for both; our client with 8 calls in flight is an extra row.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { Lab } from '../lab/lab.js';
import { LibvirtConnection } from '../src/libvirt/index.js';

const execFileAsync = promisify(execFile);
const DEFAULT_INPUTS = join(import.meta.dirname, 'inputs', 'protocol.json');

const inputsSchema = z.strictObject({
  labDir: z.string(),
  labAddressPrefix: z.string(),
  domains: z.number().int().min(1),
  nodeInfoCalls: z.number().int().min(10),
  domainStatsCalls: z.number().int().min(5),
  rounds: z.number().int().min(1),
});
type ProtocolInputs = z.infer<typeof inputsSchema>;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The per-command times `virsh -t` prints, in milliseconds. */
export function parseVirshTimings(output: string): number[] {
  return [...output.matchAll(/\(Time: ([\d.]+) ms\)/g)].map((m) => Number(m[1]));
}

async function virshBatch(uri: string, command: string, count: number): Promise<{ perCallMs: number[]; processWallMs: number }> {
  const script = Array.from({ length: count }, () => command).join('; ');
  const started = performance.now();
  const { stdout } = await execFileAsync('virsh', ['-t', '-q', '-c', uri, script], { maxBuffer: 1 << 30 });
  const processWallMs = performance.now() - started;
  const perCallMs = parseVirshTimings(stdout);
  if (perCallMs.length !== count) throw new Error(`virsh printed ${perCallMs.length} timings for ${count} commands`);
  return { perCallMs, processWallMs };
}

export async function ensureDomains(conn: LibvirtConnection, count: number): Promise<number> {
  const existing = new Set((await conn.connectListAllDomains()).map((d) => d.name));
  for (let i = 0; i < count; i++) {
    const name = `pb-${String(i).padStart(3, '0')}`;
    if (existing.has(name)) continue;
    const dom = await conn.domainDefineXml(
      `<domain type='test'><name>${name}</name><memory unit='MiB'>256</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>`,
    );
    await conn.domainCreate(dom);
  }
  return (await conn.connectListAllDomains()).length;
}

export interface ProtocolRound {
  round: number;
  oursNodeInfoMedianMs: number;
  virshNodeInfoMedianMs: number;
  oursStatsCallsPerSecond: number;
  oursPipelinedStatsCallsPerSecond: number;
  virshStatsCallsPerSecond: number;
}

export async function runProtocolBench(options: { inputsPath?: string; log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => {});
  const inputs: ProtocolInputs = inputsSchema.parse(JSON.parse(await readFile(options.inputsPath ?? DEFAULT_INPUTS, 'utf8')));
  const title = 'Protocol speed: libvirt client vs virsh';
  const lab = new Lab(inputs.labDir, inputs.labAddressPrefix);
  try {
    await lab.up({ hosts: 1, log: (m) => log(`protocol: lab: ${m}`) });
  } catch (error) {
    const why = `a one-host lab in ${inputs.labDir} could not start (${(error as Error).message.split('\n')[0]})`;
    return { title, markdown: `Not run: ${why}.`, json: { notRun: why } };
  }
  const uri = lab.hosts[0].testUri;
  const conn = await LibvirtConnection.open(uri, { keepaliveIntervalSeconds: 0 });
  try {
    const domainCount = await ensureDomains(conn, inputs.domains);
    log(`protocol: ${domainCount} test-driver domains on ${uri}`);
    const rounds: ProtocolRound[] = [];
    const oursLatencies: number[] = [];
    const virshLatencies: number[] = [];
    for (let round = 1; round <= inputs.rounds; round++) {
      // Alternate which side goes first so drift on a shared machine hits both alike.
      const oursFirst = round % 2 === 1;
      const measureOursLatency = async () => {
        const times: number[] = [];
        for (let i = 0; i < inputs.nodeInfoCalls; i++) {
          const t = performance.now();
          await conn.nodeGetInfo();
          times.push(performance.now() - t);
        }
        return times;
      };
      const measureVirshLatency = async () => (await virshBatch(uri, 'nodeinfo', inputs.nodeInfoCalls)).perCallMs;
      let oursTimes: number[];
      let virshTimes: number[];
      if (oursFirst) {
        oursTimes = await measureOursLatency();
        virshTimes = await measureVirshLatency();
      } else {
        virshTimes = await measureVirshLatency();
        oursTimes = await measureOursLatency();
      }
      oursLatencies.push(...oursTimes);
      virshLatencies.push(...virshTimes);

      let started = performance.now();
      for (let i = 0; i < inputs.domainStatsCalls; i++) {
        const records = await conn.connectGetAllDomainStats(0, 0);
        if (records.length !== domainCount) throw new Error(`get-all-domain-stats returned ${records.length} domains, expected ${domainCount}`);
      }
      const oursStatsCallsPerSecond = inputs.domainStatsCalls / ((performance.now() - started) / 1000);
      started = performance.now();
      const inFlight = 8;
      let issued = 0;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (issued < inputs.domainStatsCalls) {
            issued++;
            await conn.connectGetAllDomainStats(0, 0);
          }
        }),
      );
      const oursPipelinedStatsCallsPerSecond = inputs.domainStatsCalls / ((performance.now() - started) / 1000);
      const virshStats = await virshBatch(uri, 'domstats --raw', inputs.domainStatsCalls);
      const virshStatsCallsPerSecond = inputs.domainStatsCalls / (virshStats.perCallMs.reduce((a, b) => a + b, 0) / 1000);
      const r: ProtocolRound = {
        round,
        oursNodeInfoMedianMs: median(oursTimes),
        virshNodeInfoMedianMs: median(virshTimes),
        oursStatsCallsPerSecond,
        oursPipelinedStatsCallsPerSecond,
        virshStatsCallsPerSecond,
      };
      rounds.push(r);
      log(
        `protocol: round ${round}: node info median ours ${r.oursNodeInfoMedianMs.toFixed(3)} ms vs virsh ${r.virshNodeInfoMedianMs.toFixed(3)} ms; stats ${r.oursStatsCallsPerSecond.toFixed(0)}/s vs ${r.virshStatsCallsPerSecond.toFixed(0)}/s`,
      );
    }

    // What a shell script pays: one virsh process per call.
    const spawnTimes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await execFileAsync('virsh', ['-q', '-c', uri, 'nodeinfo']);
      spawnTimes.push(performance.now() - t);
    }

    const summary = {
      domains: domainCount,
      nodeInfoMedianMs: { ours: median(oursLatencies), virshInProcess: median(virshLatencies), virshProcessPerCall: median(spawnTimes) },
      latencyRatioOursOverVirsh: median(oursLatencies) / median(virshLatencies),
      statsCallsPerSecondMedian: {
        ours: median(rounds.map((r) => r.oursStatsCallsPerSecond)),
        oursPipelined8: median(rounds.map((r) => r.oursPipelinedStatsCallsPerSecond)),
        virshInProcess: median(rounds.map((r) => r.virshStatsCallsPerSecond)),
      },
    };
    const throughputRatio = summary.statsCallsPerSecondMedian.ours / summary.statsCallsPerSecondMedian.virshInProcess;
    const markdown = [
      `Daemon: a lab libvirtd (\`${uri}\`, libvirt's test driver) with ${domainCount} domains. ${inputs.rounds} rounds, sides alternating; ${inputs.nodeInfoCalls} node-info calls and ${inputs.domainStatsCalls} get-all-domain-stats calls (all stat groups, all domains) per side per round. Inputs: \`bench/inputs/protocol.json\`.`,
      '',
      '| measure | virt-balancer client | virsh (one process, one connection) | ratio | target |',
      '|---|---|---|---|---|',
      `| node-get-info latency, median ms | ${summary.nodeInfoMedianMs.ours.toFixed(3)} | ${summary.nodeInfoMedianMs.virshInProcess.toFixed(3)} | ${summary.latencyRatioOursOverVirsh.toFixed(2)}x | within 1.5x: ${summary.latencyRatioOursOverVirsh <= 1.5 ? 'met' : 'NOT met'} |`,
      `| get-all-domain-stats, calls/s (sequential) | ${summary.statsCallsPerSecondMedian.ours.toFixed(0)} | ${summary.statsCallsPerSecondMedian.virshInProcess.toFixed(0)} | ${throughputRatio.toFixed(2)} | >= 1.0: ${throughputRatio >= 1 ? 'met' : 'NOT met'} |`,
      `| get-all-domain-stats, calls/s (8 in flight) | ${summary.statsCallsPerSecondMedian.oursPipelined8.toFixed(0)} | (virsh runs one command at a time) | ${(summary.statsCallsPerSecondMedian.oursPipelined8 / summary.statsCallsPerSecondMedian.virshInProcess).toFixed(2)} | |`,
      `| node info, a new \`virsh nodeinfo\` process per call (shell scripts), median ms | | ${summary.nodeInfoMedianMs.virshProcessPerCall.toFixed(1)} | | |`,
      '',
      'virsh per-call times are the `(Time: ... ms)` lines `virsh -t` prints for each command (they include formatting the output, as our figures include decoding into objects). Per-round figures are in the JSON.',
    ].join('\n');
    return { title, markdown, json: { inputs, summary, throughputRatio, rounds } };
  } finally {
    await conn.close().catch(() => {});
    await lab.down().catch((error) => log(`protocol: lab down failed: ${(error as Error).message}`));
  }
}
