/**
 * Collection and planning at scale: 100 ... 10,000 hosts x 30 VMs against fake daemons that
 * answer from replies recorded from a real libvirt 11.3 host (bench/fake-hosts.ts, in a child
 * process, so only the controller's CPU is measured). Per size: connect every host, one warm-up
 * tick (it reads every VM's XML, tags and job status once: the per-VM calls a new connection
 * costs), then `ticks` ticks of collect() + plan(). Reported per size: remote calls per host per
 * tick (counted by the fake daemons), the controller's CPU (user + system) per tick, median, and
 * the growth exponent (least-squares slope of log CPU over log hosts).
 *
 *   npx tsx bench/collect-scale.ts [--hosts 100,300,1000,3000,10000] [--ticks 5] [--out bench/results/<date>-scale]
 */
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import '../policies/index.js';
import { Collector } from '../src/cluster/collector.js';
import { HostConnections } from '../src/cluster/connections.js';
import { parseConfig } from '../src/config/index.js';
import { Proc } from '../src/libvirt/protocol.js';
import { silentLogger } from '../src/log/logger.js';
import { plan } from '../src/policy/index.js';
import { growthExponent } from './growth.js';
import { median } from './protocol.js';

export interface ScaleRow {
  hosts: number;
  vms: number;
  ticks: number;
  /** Remote-program calls per host per tick, measured ticks only (warm-up excluded). */
  rpcsPerHostPerTick: number;
  /** The same on the warm-up tick (every VM's XML, tags and job status: a new connection). */
  warmupRpcsPerHost: number;
  /** Calls per host per tick by procedure name (measured ticks). */
  procedures: Record<string, number>;
  /** Of rpcsPerHostPerTick: job-info calls. */
  jobInfoPerHostPerTick: number;
  medianCollectCpuMs: number;
  medianPlanCpuMs: number;
  medianCpuMsPerTick: number;
  medianWallMsPerTick: number;
  moves: number;
  rssMiB: number;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function measureSize(hosts: number, vmsPerHost: number, ticks: number, log: (line: string) => void): Promise<ScaleRow> {
  const recording = join(import.meta.dirname, '..', 'test', 'unit', 'libvirt', 'recorded', 'lab1-observe.json');
  // One listening port per host (config refuses two hosts at one address and port), at most
  // PER_CHILD hosts per child process (each holds a listener and a connection per host).
  const PER_CHILD = 4000;
  const children = Array.from({ length: Math.ceil(hosts / PER_CHILD) }, (_, i) => {
    const mine = Math.min(PER_CHILD, hosts - i * PER_CHILD);
    const child = fork(join(import.meta.dirname, 'fake-hosts.ts'), [recording, String(vmsPerHost), '0.1', String(mine), String(i * PER_CHILD)], {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    });
    const waiting: ((m: unknown) => void)[] = [];
    child.on('message', (m) => waiting.shift()?.(m));
    const next = () => new Promise<Record<string, unknown>>((resolve) => waiting.push((m) => resolve(m as Record<string, unknown>)));
    return { child, next, ready: next() };
  });
  const ports = (await Promise.all(children.map((c) => c.ready))).flatMap((m) => m.ports as number[]);
  const counts = async () => {
    const replies = await Promise.all(
      children.map((c) => {
        const reply = c.next();
        c.child.send('counts');
        return reply as Promise<{ counts: Record<string, number> }>;
      }),
    );
    const sum: Record<string, number> = {};
    for (const r of replies) for (const [k, v] of Object.entries(r.counts)) sum[k] = (sum[k] ?? 0) + v;
    return { counts: sum };
  };
  const config = parseConfig({
    hosts: ports.map((port, h) => ({ name: `host${h}`, uri: `qemu+tcp://127.0.0.1:${port}/system`, capacity: { cpuCount: 64, memoryMiB: 512 * 1024 } })),
    stateDir: '/tmp/vb-bench-scale',
    // Keepalive probes every 5 s would be counted as silence on a tick that takes longer at 10,000 hosts.
    libvirt: { callTimeoutSeconds: 600 },
  });
  const connections = new HostConnections(config, { logger: silentLogger() });
  try {
    await connections.start();
    const collector = new Collector(config, connections, { logger: silentLogger() });
    await counts();
    let state = await collector.collect();
    const warm = await counts();
    const down = state.hosts.filter((h) => !h.up);
    if (down.length > 0) throw new Error(`${down.length} of ${hosts} fake hosts are down (${down[0].name}: ${down[0].downReason})`);
    const warmupRpcs = Object.values(warm.counts).reduce((s, n) => s + n, 0);
    const collectCpu: number[] = [];
    const planCpu: number[] = [];
    const total: number[] = [];
    const wall: number[] = [];
    let moves = 0;
    for (let t = 0; t < ticks; t++) {
      const c0 = cpuNow();
      const w0 = performance.now();
      state = await collector.collect();
      const c1 = cpuNow();
      const p = await plan(state);
      const c2 = cpuNow();
      wall.push(performance.now() - w0);
      collectCpu.push(c1 - c0);
      planCpu.push(c2 - c1);
      total.push(c2 - c0);
      moves = p.moves.length;
      if (state.vms.length !== hosts * vmsPerHost) throw new Error(`collected ${state.vms.length} VMs, expected ${hosts * vmsPerHost}`);
    }
    const measured = await counts();
    const rpcs = Object.values(measured.counts).reduce((s, n) => s + n, 0);
    const row: ScaleRow = {
      hosts,
      vms: hosts * vmsPerHost,
      ticks,
      rpcsPerHostPerTick: rpcs / hosts / ticks,
      warmupRpcsPerHost: warmupRpcs / hosts,
      procedures: Object.fromEntries(
        Object.entries(measured.counts).map(([p, n]) => [Object.entries(Proc).find(([, v]) => v === Number(p))?.[0] ?? p, n / hosts / ticks]),
      ),
      jobInfoPerHostPerTick: (measured.counts[Proc.DOMAIN_GET_JOB_INFO] ?? 0) / hosts / ticks,
      medianCollectCpuMs: median(collectCpu),
      medianPlanCpuMs: median(planCpu),
      medianCpuMsPerTick: median(total),
      medianWallMsPerTick: median(wall),
      moves,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    };
    log(
      `scale: ${hosts} hosts x ${vmsPerHost} VMs: ${row.rpcsPerHostPerTick.toFixed(2)} RPCs/host/tick ${JSON.stringify(row.procedures)} (warm-up ${row.warmupRpcsPerHost.toFixed(1)}), CPU ${row.medianCpuMsPerTick.toFixed(0)} ms/tick (collect ${row.medianCollectCpuMs.toFixed(0)}, plan ${row.medianPlanCpuMs.toFixed(0)}), wall ${row.medianWallMsPerTick.toFixed(0)} ms`,
    );
    return row;
  } finally {
    await connections.close();
    for (const c of children) c.child.send('exit');
  }
}

export async function runCollectScaleBench(options: { hosts?: number[]; vmsPerHost?: number; ticks?: number; log?: (line: string) => void } = {}) {
  const log = options.log ?? (() => {});
  const sizes = options.hosts ?? [100, 300, 1000, 3000, 10000];
  const vmsPerHost = options.vmsPerHost ?? 30;
  const ticks = options.ticks ?? 5;
  const rows: ScaleRow[] = [];
  for (const hosts of sizes) rows.push(await measureSize(hosts, vmsPerHost, ticks, log));
  const exponent = growthExponent(rows.map((r) => ({ x: r.hosts, y: r.medianCpuMsPerTick })));
  const collectExponent = growthExponent(rows.map((r) => ({ x: r.hosts, y: r.medianCollectCpuMs })));
  const markdown = [
    `Fake daemons in a child process answer from replies recorded from libvirt 11.3.0 / QEMU 10.0.2 (\`test/unit/libvirt/recorded/lab1-observe.json\`): every host's VMs are copies of the recorded guest's stats record with their own names, UUIDs and CPU time (10 % of hosts near 95 % CPU). One warm-up tick, then ${ticks} ticks of collect() + plan() per size; CPU is the controller process's user + system. Growth exponent (log-log least squares over the rows): collect + plan ${exponent.toFixed(2)}, collect ${collectExponent.toFixed(2)}. Target (issue 25): <= 4 RPCs per host per tick at 30 VMs; collect + plan at 10,000 hosts x 30 VMs <= 10 s CPU per tick.`,
    '',
    '| hosts | VMs | ticks | RPCs per host per tick | of them job info | warm-up RPCs per host | median CPU ms per tick (collect + plan) | collect | plan | median wall ms per tick | moves | RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.hosts} | ${r.vms} | ${r.ticks} | ${r.rpcsPerHostPerTick.toFixed(2)} | ${r.jobInfoPerHostPerTick.toFixed(2)} | ${r.warmupRpcsPerHost.toFixed(1)} | ${r.medianCpuMsPerTick.toFixed(0)} | ${r.medianCollectCpuMs.toFixed(0)} | ${r.medianPlanCpuMs.toFixed(0)} | ${r.medianWallMsPerTick.toFixed(0)} | ${r.moves} | ${r.rssMiB.toFixed(0)} |`,
    ),
  ].join('\n');
  return { title: 'Collection and planning at scale (fake daemons from recorded libvirt 11.3 replies)', markdown, json: { rows, exponent, collectExponent } };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const program = new Command()
    .option('--hosts <list>', 'host counts', '100,300,1000,3000,10000')
    .option('--ticks <n>', 'measured ticks per size', '5')
    .option('--out <path>', 'write <path>.md and <path>.json');
  program.parse();
  const o = program.opts<{ hosts: string; ticks: string; out?: string }>();
  const result = await runCollectScaleBench({
    hosts: o.hosts.split(',').map(Number),
    ticks: Number(o.ticks),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${result.markdown}\n`);
  if (o.out) {
    await mkdir(join(o.out, '..'), { recursive: true });
    await writeFile(`${o.out}.md`, `# ${result.title}\n\n${result.markdown}\n`);
    await writeFile(`${o.out}.json`, `${JSON.stringify(result.json, null, 2)}\n`);
  }
}
