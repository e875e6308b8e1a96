/**
 * Planning time at scale: plan() on synthetic clusters from 100 to 3,000 hosts (30 and 90 VMs a
 * host, every VM with its own id), with a share of hosts above the CPU threshold so the engine has
 * real work (candidates x targets x policies). What counts is CPU time per plan() (user + system of
 * this process, so a busy shared machine slows the wall clock, not the figure), the median of
 * several runs, against the targets in bench/inputs/planning.json. Policy timeouts are counted: a
 * plan whose policies timed out is not a measurement of a complete plan.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import '../policies/index.js';
import type { ClusterState, HostObservation, VmObservation } from '../src/cluster/model.js';
import { plan } from '../src/policy/index.js';
import { policySchema } from '../src/config/policy-schema.js';
import { growthExponent } from './growth.js';
import { median } from './protocol.js';

const inputsSchema = z.strictObject({
  seed: z.number().int(),
  repeats: z.number().int().min(1),
  hostCpuCount: z.number().int().positive(),
  hostMemoryGiB: z.number().positive(),
  vmMemoryGiB: z.number().positive(),
  hotHostShare: z.number().min(0).max(1),
  clusters: z.array(
    z.strictObject({
      hosts: z.number().int().positive(),
      vmsPerHost: z.number().int().positive(),
      /** Runs of this size (the largest take seconds each); default: repeats. */
      repeats: z.number().int().min(1).optional(),
      /** The CPU time per plan() this size must stay under, ms (none: shown for the growth only). */
      targetCpuMs: z.number().positive().optional(),
    }),
  ),
  /**
   * Plans of many moves (issue 25): `maintenanceHosts` hosts in maintenance, so about 1,000 VMs
   * must move in one plan (maxMoves `maxMoves`), planned with the indexed target search and with the
   * exhaustive one (the search before the index) on the same state.
   */
  drains: z
    .strictObject({
      maintenanceHosts: z.number().int().positive(),
      maxMoves: z.number().int().positive(),
      repeats: z.number().int().min(1),
      sizes: z.array(
        z.strictObject({ hosts: z.number().int().positive(), vmsPerHost: z.number().int().positive(), targetCpuMs: z.number().positive().optional() }),
      ),
      /** Largest growth exponent of the indexed plan's CPU over hosts (log-log least squares). */
      targetExponent: z.number().positive(),
    })
    .optional(),
});

const GiB = 2 ** 30;
const win = (v: number) => ({ last: v, mean: v, p90: v, samples: 10 });

export function syntheticCluster(hosts: number, vmsPerHost: number, inputs: z.infer<typeof inputsSchema>): ClusterState {
  let seed = inputs.seed;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const vms: VmObservation[] = [];
  const hostList: HostObservation[] = [];
  for (let h = 0; h < hosts; h++) {
    const hot = rnd() < inputs.hotHostShare;
    const mine: VmObservation[] = [];
    for (let i = 0; i < vmsPerHost; i++) {
      const vcpus = 1 + Math.floor(rnd() * 4);
      // Hot hosts: about 95 % of CPU in use; others 20-60 %.
      const target = hot ? 0.95 : 0.2 + rnd() * 0.4;
      const cpu = Math.min(1, ((target * inputs.hostCpuCount) / (vmsPerHost * 2.5)) * (0.5 + rnd()));
      // Every VM its own name and UUID (the engine indexes by UUID).
      const n = vms.length + mine.length;
      mine.push({
        name: `vm${n}`,
        uuid: `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
        host: `host${h}`,
        state: 'running',
        vcpus,
        cpuUtilization: win(cpu),
        memoryBytes: inputs.vmMemoryGiB * GiB,
        maxMemoryBytes: inputs.vmMemoryGiB * GiB,
        dirtyRateMiBps: rnd() * 200,
        jobRunning: false,
        disksShared: true,
        localDiskBytes: 0,
        tags: [],
      });
    }
    vms.push(...mine);
    const cpu = mine.reduce((s, v) => s + v.cpuUtilization.mean * v.vcpus, 0) / inputs.hostCpuCount;
    hostList.push({
      name: `host${h}`,
      uri: `qemu+tls://host${h}/system`,
      up: true,
      maintenance: false,
      cpuCount: inputs.hostCpuCount,
      memoryTotalBytes: inputs.hostMemoryGiB * GiB,
      cpuOvercommitRatio: 4,
      memoryOvercommitRatio: 1,
      cpuUtilization: win(cpu),
      memoryUsedBytes: mine.length * inputs.vmMemoryGiB * GiB,
      labels: {},
    });
  }
  return { observedAtMs: Date.now(), hosts: hostList, vms, inFlight: [], lastMovedAtMs: {}, recentMoves: [] };
}

/** CPU time of this process (user + system), ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export async function runPlanningBench(options: { inputsPath?: string; log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => {});
  const inputs = inputsSchema.parse(JSON.parse(await readFile(options.inputsPath ?? join(import.meta.dirname, 'inputs', 'planning.json'), 'utf8')));
  const rows: {
    hosts: number;
    vms: number;
    hotHosts: number;
    runs: number;
    medianCpuMs: number;
    medianWallMs: number;
    targetCpuMs?: number;
    met?: boolean;
    moves: number;
    skipped: number;
    policyErrors: number;
    timeouts: number;
    heapMiB: number;
    distinctIds: boolean;
  }[] = [];
  for (const c of inputs.clusters) {
    const state = syntheticCluster(c.hosts, c.vmsPerHost, inputs);
    const cpuTimes: number[] = [];
    const wallTimes: number[] = [];
    let last;
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const runs = c.repeats ?? inputs.repeats;
    for (let r = 0; r < runs; r++) {
      const cpu = cpuMs();
      const t = performance.now();
      last = await plan(state);
      wallTimes.push(performance.now() - t);
      cpuTimes.push(cpuMs() - cpu);
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    }
    const medianCpuMs = median(cpuTimes);
    const row = {
      hosts: c.hosts,
      vms: state.vms.length,
      hotHosts: state.hosts.filter((h) => h.cpuUtilization.mean > 0.8).length,
      runs,
      medianCpuMs,
      medianWallMs: median(wallTimes),
      targetCpuMs: c.targetCpuMs,
      met: c.targetCpuMs === undefined ? undefined : medianCpuMs < c.targetCpuMs,
      moves: last!.moves.length,
      skipped: last!.skipped.length,
      policyErrors: last!.policyErrors.length,
      timeouts: (last as { timeouts?: unknown[] }).timeouts?.length ?? 0,
      heapMiB: (heapPeak - heapBefore) / 2 ** 20,
      distinctIds: new Set(state.vms.map((v) => v.uuid)).size === state.vms.length,
    };
    rows.push(row);
    log(
      `planning: ${row.hosts} hosts x ${row.vms} VMs: median CPU ${row.medianCpuMs.toFixed(0)} ms, wall ${row.medianWallMs.toFixed(0)} ms${row.timeouts ? `, ${row.timeouts} policy timeouts` : ''}`,
    );
  }
  const drains = inputs.drains ? await runDrains(inputs, inputs.drains, log) : undefined;
  const markdown = [
    `CPU time per plan() with the default policies (user + system of the process), median of ${inputs.repeats} runs per cluster unless the row says fewer (inputs: \`bench/inputs/planning.json\`; ${(inputs.hotHostShare * 100).toFixed(0)} % of hosts near 95 % CPU, VM dirty rates 0-200 MiB/s so the chooser has work; every VM has its own UUID${rows.every((r) => r.distinctIds) ? '' : ' — CHECK FAILED: some ids repeat'}). Growth with hosts should be about linear at a fixed number of VMs a host.`,
    '',
    '| hosts | VMs a host | VMs | hot hosts | runs | median CPU ms | median wall ms | target CPU ms | met | moves | skipped | policy errors | policy timeouts | heap growth MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.hosts} | ${r.vms / r.hosts} | ${r.vms} | ${r.hotHosts} | ${r.runs} | ${r.medianCpuMs.toFixed(0)} | ${r.medianWallMs.toFixed(0)} | ${r.targetCpuMs ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} | ${r.moves} | ${r.skipped} | ${r.policyErrors} | ${r.timeouts} | ${r.heapMiB.toFixed(0)} |`,
    ),
    ...(drains ? ['', drains.markdown] : []),
  ].join('\n');
  return { title: 'Planning time at scale', markdown, json: { inputs, rows, drains: drains?.json } };
}

type DrainInputs = NonNullable<z.infer<typeof inputsSchema>['drains']>;

/** Plans of ~1,000 moves: the indexed and the exhaustive target search on the same drained clusters. */
async function runDrains(inputs: z.infer<typeof inputsSchema>, drains: DrainInputs, log: (line: string) => void) {
  const rows: { hosts: number; vms: number; moves: number; samePlan: boolean; indexedCpuMs: number; exhaustiveCpuMs: number; targetCpuMs?: number }[] = [];
  const config = policySchema.parse({ maxMovesPerTick: drains.maxMoves });
  for (const size of drains.sizes) {
    const state = syntheticCluster(size.hosts, size.vmsPerHost, inputs);
    for (let i = 0; i < drains.maintenanceHosts; i++) state.hosts[Math.floor((i * size.hosts) / drains.maintenanceHosts)].maintenance = true;
    const cpu: Record<'indexed' | 'exhaustive', number[]> = { indexed: [], exhaustive: [] };
    const plans: Record<string, string> = {};
    let moves = 0;
    for (let r = 0; r < drains.repeats; r++) {
      for (const targetSearch of ['exhaustive', 'indexed'] as const) {
        const before = cpuMs();
        const p = await plan(state, { config, maxMoves: drains.maxMoves, targetSearch });
        cpu[targetSearch].push(cpuMs() - before);
        plans[targetSearch] = JSON.stringify(p.moves.map((m) => [m.vmUuid, m.to, m.technique]));
        moves = p.moves.length;
      }
    }
    const row = {
      hosts: size.hosts,
      vms: state.vms.length,
      moves,
      samePlan: plans.indexed === plans.exhaustive,
      indexedCpuMs: median(cpu.indexed),
      exhaustiveCpuMs: median(cpu.exhaustive),
      targetCpuMs: size.targetCpuMs,
    };
    rows.push(row);
    log(
      `planning: drain ${row.hosts} hosts, ${row.moves} moves: indexed ${row.indexedCpuMs.toFixed(0)} ms, exhaustive ${row.exhaustiveCpuMs.toFixed(0)} ms CPU, same plan ${row.samePlan}`,
    );
  }
  const exponent = growthExponent(rows.map((r) => ({ x: r.hosts, y: r.indexedCpuMs })));
  const exhaustiveExponent = growthExponent(rows.map((r) => ({ x: r.hosts, y: r.exhaustiveCpuMs })));
  const markdown = [
    `Plans of many moves: ${drains.maintenanceHosts} hosts in maintenance (about ${drains.maintenanceHosts * (drains.sizes[0]?.vmsPerHost ?? 0)} VMs must move), up to ${drains.maxMoves} moves in one plan, median of ${drains.repeats} runs, the indexed target search (src/policy/target-index.ts) against the exhaustive one (every host scored and sorted per move, the search before the index) on the same state. Growth exponent over hosts (log-log least squares): indexed ${exponent.toFixed(2)} (target <= ${drains.targetExponent}${exponent <= drains.targetExponent ? ', met' : ', **not met**'}), exhaustive ${exhaustiveExponent.toFixed(2)}.`,
    '',
    '| hosts | VMs | moves | same plan | indexed CPU ms | exhaustive CPU ms | target CPU ms | met |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.hosts} | ${r.vms} | ${r.moves} | ${r.samePlan ? 'yes' : '**no**'} | ${r.indexedCpuMs.toFixed(0)} | ${r.exhaustiveCpuMs.toFixed(0)} | ${r.targetCpuMs ?? ''} | ${r.targetCpuMs === undefined ? '' : r.indexedCpuMs < r.targetCpuMs ? 'yes' : '**no**'} |`,
    ),
  ].join('\n');
  return { markdown, json: { rows, exponent, exhaustiveExponent } };
}
