/**
 * Collection and planning at scale: 100 ... 10,000 hosts x 30 VMs against fake daemons that
 * answer from replies recorded from a real libvirt 11.3 host (bench/fake-hosts.ts, in a child
 * process, so only the controller's CPU is measured). Per size: connect every host, one warm-up
 * tick (it reads every VM's XML, tags and job status once: the per-VM calls a new connection
 * costs), then `ticks` ticks of collect() + plan(). Reported per size: remote calls per host per
 * tick (counted by the fake daemons), the controller's CPU (user + system) per tick, median, and
 * the growth exponent (least-squares slope of log CPU over log hosts).
 *
 *   npm run bench -- --only scale      (VB_SCALE_HOSTS=100,1000 VB_SCALE_RUNS=1 to narrow it)
 *
 * VB_PROFILE_TICKS=<path prefix> writes the measured ticks' CPU profile per size (warm-up left
 * out; with VB_ALLOCATION_PROFILE=1 a sampling allocation profile instead); VB_HEAP_SNAPSHOT=<path
 * prefix> a heap snapshot after them.
 */
import { fork } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
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
  /** Each measured tick's CPU (collect + plan), ms, in order: whether a run had reached its steady state. */
  cpuMsPerTick: number[];
  medianWallMsPerTick: number;
  moves: number;
  rssMiB: number;
}

/**
 * The measured ticks' CPU profile (VB_PROFILE_TICKS=<path prefix>), warm-up left out: where a
 * tick's time goes; with VB_ALLOCATION_PROFILE=1 a sampling heap profile instead (`.heapprofile`:
 * which functions allocate what a tick's garbage collection then costs).
 */
async function startProfile() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  const allocations = process.env.VB_ALLOCATION_PROFILE === '1';
  if (allocations)
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 64 * 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  else {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  return {
    async stop(prefix: string) {
      if (allocations) {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        await writeFile(`${prefix}.heapprofile`, JSON.stringify(profile));
      } else {
        const { profile } = await session.post('Profiler.stop');
        await writeFile(`${prefix}.cpuprofile`, JSON.stringify(profile));
      }
      session.disconnect();
    },
  };
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
    libvirt: { callTimeoutSeconds: 600, reconnectInitialDelaySeconds: 1, reconnectMaxDelaySeconds: 5 },
  });
  // Thousands of handshakes on a loaded machine outlast the controller's 5 s start wait.
  const connections = new HostConnections(config, { logger: silentLogger(), startWaitMs: 600_000 });
  try {
    await connections.start();
    // Thousands of connects on a loaded machine: some miss their connect bound and come back
    // through the reconnect backoff. Measure once every host is connected.
    for (const deadline = Date.now() + 20 * 60_000; ; await new Promise((r) => setTimeout(r, 1000))) {
      const missing = config.hosts.filter((h) => !connections.status(h.name).up);
      if (missing.length === 0) break;
      if (Date.now() > deadline)
        throw new Error(`${missing.length} of ${hosts} fake hosts never connected (${missing[0].name}: ${connections.status(missing[0].name).downReason})`);
    }
    // The per-host read bound (15 s) guards against a hung driver; here the fake daemons share a
    // loaded machine with the controller, and a warm-up tick of thousands of hosts outlasts it.
    const collector = new Collector(config, connections, { logger: silentLogger(), hostReadBoundMs: 600_000 });
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
    const profiler = process.env.VB_PROFILE_TICKS ? await startProfile() : undefined;
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
    if (profiler) await profiler.stop(`${process.env.VB_PROFILE_TICKS}-${hosts}`);
    if (process.env.VB_HEAP_SNAPSHOT) (await import('node:v8')).writeHeapSnapshot(`${process.env.VB_HEAP_SNAPSHOT}-${hosts}.heapsnapshot`);
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
      cpuMsPerTick: total.map((ms) => Math.round(ms)),
      medianWallMsPerTick: median(wall),
      moves,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    };
    log(
      `scale: ${hosts} hosts x ${vmsPerHost} VMs: ${row.rpcsPerHostPerTick.toFixed(2)} RPCs/host/tick ${JSON.stringify(row.procedures)} (warm-up ${row.warmupRpcsPerHost.toFixed(1)}), CPU ${row.medianCpuMsPerTick.toFixed(0)} ms/tick [${row.cpuMsPerTick.join(', ')}] (collect ${row.medianCollectCpuMs.toFixed(0)}, plan ${row.medianPlanCpuMs.toFixed(0)}), wall ${row.medianWallMsPerTick.toFixed(0)} ms`,
    );
    return row;
  } finally {
    await connections.close();
    for (const c of children) c.child.send('exit');
  }
}

/** One size over several runs (each a fresh set of daemons and connections). */
export interface ScaleSummary {
  hosts: number;
  vms: number;
  runs: ScaleRow[];
  /** Medians over the runs of each run's median per tick. */
  medianCpuMsPerTick: number;
  medianCollectCpuMs: number;
  medianPlanCpuMs: number;
  medianWallMsPerTick: number;
  /** The 1-minute load average when each run started (the machine is shared). */
  loadAverages: number[];
}

/**
 * The scale rows (the `scale` section of `npm run bench`): for each host count, `runs` runs of
 * one warm-up tick and `ticks` measured ticks; the medians over the runs, with each run's 1-minute
 * load average, and the growth exponent over the sizes. `quick`: 100 ... 1,000 hosts, one run.
 * VB_SCALE_HOSTS (comma-separated), VB_SCALE_RUNS and VB_SCALE_TICKS (measured ticks per run, 3) override
 * the sizes, runs and ticks; each makes a run partial.
 */
export async function runCollectScaleBench(
  options: { hosts?: number[]; vmsPerHost?: number; ticks?: number; runs?: number; quick?: boolean; log?: (line: string) => void } = {},
) {
  const log = options.log ?? (() => {});
  const fromEnv = process.env.VB_SCALE_HOSTS?.split(',').map(Number);
  const sizes = options.hosts ?? fromEnv ?? (options.quick ? [100, 300, 1000] : [100, 300, 1000, 3000, 10000]);
  const runs = options.runs ?? (process.env.VB_SCALE_RUNS ? Number(process.env.VB_SCALE_RUNS) : options.quick ? 1 : 3);
  const ticks = options.ticks ?? (process.env.VB_SCALE_TICKS ? Number(process.env.VB_SCALE_TICKS) : 3);
  for (const n of [...sizes, runs, ticks])
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`scale bench: host counts, runs and ticks must be whole numbers >= 1 (VB_SCALE_HOSTS, VB_SCALE_RUNS, VB_SCALE_TICKS), got ${n}`);
  const vmsPerHost = options.vmsPerHost ?? 30;
  const summaries: ScaleSummary[] = [];
  for (const hosts of sizes) {
    const rows: ScaleRow[] = [];
    const loadAverages: number[] = [];
    for (let run = 0; run < runs; run++) {
      loadAverages.push(loadavg()[0]);
      rows.push(await measureSize(hosts, vmsPerHost, ticks, log));
    }
    summaries.push({
      hosts,
      vms: hosts * vmsPerHost,
      runs: rows,
      medianCpuMsPerTick: median(rows.map((r) => r.medianCpuMsPerTick)),
      medianCollectCpuMs: median(rows.map((r) => r.medianCollectCpuMs)),
      medianPlanCpuMs: median(rows.map((r) => r.medianPlanCpuMs)),
      medianWallMsPerTick: median(rows.map((r) => r.medianWallMsPerTick)),
      loadAverages,
    });
  }
  const exponent = growthExponent(summaries.map((r) => ({ x: r.hosts, y: r.medianCpuMsPerTick })));
  const collectExponent = growthExponent(summaries.map((r) => ({ x: r.hosts, y: r.medianCollectCpuMs })));
  const top = summaries.find((r) => r.hosts === 10000);
  const range = (xs: number[], digits = 0) =>
    xs.length === 1 ? xs[0].toFixed(digits) : `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;
  const last = (r: ScaleSummary) => r.runs[r.runs.length - 1];
  const markdown = [
    `Fake daemons in child processes answer from replies recorded from libvirt 11.3.0 / QEMU 10.0.2 (\`test/unit/libvirt/recorded/lab1-observe.json\`): every host's VMs are copies of the recorded guest's stats record with their own names, UUIDs and CPU time (10 % of hosts near 95 % CPU). Per size, ${runs} run(s), each with fresh daemons and connections: one warm-up tick, then ${ticks} ticks of collect() + plan(); CPU is the controller process's user + system (the daemons' CPU is not counted). Figures are the median over the runs of each run's median tick; "range" is the runs' spread. The machine is shared: its 1-minute load average at the start of each run is given (${cpus().length} cores). Growth exponent (log-log least squares over the sizes): collect + plan ${exponent.toFixed(2)}, collect ${collectExponent.toFixed(2)}. Target (issue 25): <= 4 RPCs per host per tick at 30 VMs; collect + plan at 10,000 hosts x 30 VMs <= 10,000 ms CPU per tick${top ? ` (${top.medianCpuMsPerTick <= 10_000 ? 'met' : 'not met'}: ${top.medianCpuMsPerTick.toFixed(0)} ms)` : ' (10,000 hosts not run)'}.`,
    '',
    '| hosts | VMs | runs | RPCs per host per tick | of them job info | warm-up RPCs per host | median CPU ms per tick (collect + plan) | range over runs | collect | plan | median wall ms per tick | load average at start | moves | RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...summaries.map(
      (r) =>
        `| ${r.hosts} | ${r.vms} | ${r.runs.length} | ${last(r).rpcsPerHostPerTick.toFixed(2)} | ${last(r).jobInfoPerHostPerTick.toFixed(2)} | ${last(r).warmupRpcsPerHost.toFixed(1)} | ${r.medianCpuMsPerTick.toFixed(0)} | ${range(r.runs.map((x) => x.medianCpuMsPerTick))} | ${r.medianCollectCpuMs.toFixed(0)} | ${r.medianPlanCpuMs.toFixed(0)} | ${r.medianWallMsPerTick.toFixed(0)} | ${range(r.loadAverages, 1)} | ${last(r).moves} | ${Math.max(...r.runs.map((x) => x.rssMiB)).toFixed(0)} |`,
    ),
  ].join('\n');
  return {
    title: 'Collection and planning at scale (fake daemons from recorded libvirt 11.3 replies)',
    markdown,
    json: { sizes: summaries, exponent, collectExponent, ticks, runs },
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  process.stderr.write(
    'bench/collect-scale.ts is the `scale` section of the bench: npm run bench -- --only scale (VB_SCALE_HOSTS=100,1000 VB_SCALE_RUNS=1 to narrow it)\n',
  );
  const result = await runCollectScaleBench({ log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`${result.markdown}\n`);
}
