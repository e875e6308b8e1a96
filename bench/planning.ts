/**
 * Planning time at scale: plan() on synthetic clusters up to 1,000 hosts x 30,000 VMs, with a
 * share of hosts above the CPU threshold so the engine has real work (candidates x targets x
 * policies). Median of several runs; the inputs are in bench/inputs/planning.json.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ClusterState, HostObservation, VmObservation } from '../src/cluster/model.js';
import { plan } from '../src/policy/index.js';
import { median } from './protocol.js';

const inputsSchema = z.strictObject({
  seed: z.number().int(),
  repeats: z.number().int().min(1),
  hostCpuCount: z.number().int().positive(),
  hostMemoryGiB: z.number().positive(),
  vmMemoryGiB: z.number().positive(),
  hotHostShare: z.number().min(0).max(1),
  clusters: z.array(z.strictObject({ hosts: z.number().int().positive(), vmsPerHost: z.number().int().positive() })),
});

const GiB = 2 ** 30;
const win = (v: number) => ({ last: v, mean: v, p90: v, samples: 10 });

export function syntheticCluster(hosts: number, vmsPerHost: number, inputs: z.infer<typeof inputsSchema>): ClusterState {
  let seed = inputs.seed;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const vms: VmObservation[] = [];
  const hostList: HostObservation[] = [];
  for (let h = 0; h < hosts; h++) {
    const hot = rnd() < inputs.hotHostShare;
    const mine: VmObservation[] = [];
    for (let i = 0; i < vmsPerHost; i++) {
      const vcpus = 1 + Math.floor(rnd() * 4);
      // Hot hosts: about 95 % of CPU in use; others 20-60 %.
      const target = hot ? 0.95 : 0.2 + rnd() * 0.4;
      const cpu = Math.min(1, (target * inputs.hostCpuCount) / (vmsPerHost * 2.5) * (0.5 + rnd()));
      const n = vms.length;
      mine.push({ name: `vm${n}`, uuid: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`, host: `host${h}`, state: 'running', vcpus, cpuUtilization: win(cpu), memoryBytes: inputs.vmMemoryGiB * GiB, maxMemoryBytes: inputs.vmMemoryGiB * GiB, dirtyRateMiBps: rnd() * 200, jobRunning: false, disksShared: true, localDiskBytes: 0, tags: [] });
    }
    vms.push(...mine);
    const cpu = mine.reduce((s, v) => s + v.cpuUtilization.mean * v.vcpus, 0) / inputs.hostCpuCount;
    hostList.push({ name: `host${h}`, uri: `qemu+tls://host${h}/system`, up: true, maintenance: false, cpuCount: inputs.hostCpuCount, memoryTotalBytes: inputs.hostMemoryGiB * GiB, cpuOvercommitRatio: 4, memoryOvercommitRatio: 1, cpuUtilization: win(cpu), memoryUsedBytes: mine.length * inputs.vmMemoryGiB * GiB, labels: {} });
  }
  return { observedAtMs: Date.now(), hosts: hostList, vms, inFlight: [], lastMovedAtMs: {}, recentMoves: [] };
}

export async function runPlanningBench(options: { inputsPath?: string; log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => {});
  const inputs = inputsSchema.parse(JSON.parse(await readFile(options.inputsPath ?? join(import.meta.dirname, 'inputs', 'planning.json'), 'utf8')));
  const rows: { hosts: number; vms: number; hotHosts: number; medianMs: number; moves: number; skipped: number; heapMiB: number }[] = [];
  for (const c of inputs.clusters) {
    const state = syntheticCluster(c.hosts, c.vmsPerHost, inputs);
    const times: number[] = [];
    let last;
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    for (let r = 0; r < inputs.repeats; r++) {
      const t = performance.now();
      last = await plan(state);
      times.push(performance.now() - t);
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }
    const row = { hosts: c.hosts, vms: state.vms.length, hotHosts: state.hosts.filter((h) => h.cpuUtilization.mean > 0.8).length, medianMs: median(times), moves: last!.moves.length, skipped: last!.skipped.length, heapMiB: (heapPeak - heapBefore) / 2 ** 20 };
    rows.push(row);
    log(`planning: ${row.hosts} hosts x ${row.vms} VMs: median ${row.medianMs.toFixed(0)} ms`);
  }
  const markdown = [
    `plan() with the default policies, median of ${inputs.repeats} runs per cluster (inputs: \`bench/inputs/planning.json\`; ${(inputs.hotHostShare * 100).toFixed(0)} % of hosts near 95 % CPU, VM dirty rates 0-200 MiB/s so the chooser has work).`,
    '',
    '| hosts | VMs | hot hosts | median ms | moves | skipped | heap growth MiB |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.hosts} | ${r.vms} | ${r.hotHosts} | ${r.medianMs.toFixed(0)} | ${r.moves} | ${r.skipped} | ${r.heapMiB.toFixed(0)} |`),
  ].join('\n');
  return { title: 'Planning time at scale', markdown, json: { inputs, rows } };
}
