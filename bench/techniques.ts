/**
 * Part 1 of the benchmarks: technique choice on real migrations in the lab.
 *
 * Each VM profile (dirty rate from idle to 1.5x the migration bandwidth) is migrated twice per
 * repeat, from a fresh guest each time:
 *  (a) common practice: `virsh migrate --live --p2p --bandwidth B` (default pre-copy, what ProxLB and
 *      Watcher do), aborted with `virsh domjobabort` at the deadline as an operator would;
 *  (b) virt-balancer: the technique chooser picks from the measured dirty rate, the executor runs
 *      the move (src/policy + src/executor).
 * Recorded: total time, downtime, bytes, converged or time to abort, guest heartbeat, and the
 * physical bound memory / bandwidth.
 */
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { migrationPkiDir } from '../lab/hosts.js';
import { Lab } from '../lab/lab.js';
import { makeMigrationPki } from '../lab/pki.js';
import { runSingleMove } from '../src/executor/index.js';
import { PredictionCalibration } from '../src/policy/calibration.js';
import { chooseTechnique, TECHNIQUES } from '../src/policy/index.js';
import type { Technique } from '../src/policy/plan-types.js';
import { median } from './traces/metrics.js';

const execFileAsync = promisify(execFile);
export const DEFAULT_TECHNIQUE_INPUTS = join(import.meta.dirname, 'inputs', 'techniques.json');

const inputsSchema = z.object({
  description: z.string().optional(),
  labDir: z.string(),
  labAddressPrefix: z.string(),
  /** Stop the benchmark's lab when done (frees the 2 cores' worth of idle daemons). */
  labDownAfter: z.boolean(),
  sourceHost: z.string(),
  targetHost: z.string(),
  bandwidthMiBps: z.number().positive(),
  downtimeBudgetMs: z.number().positive(),
  deadlineSeconds: z.number().positive(),
  repeats: z.number().int().positive(),
  vm: z.object({
    vcpus: z.number().int().positive(),
    memoryMiB: z.number().positive(),
    workloadMiB: z.number().positive(),
    cpuBusyPercent: z.number().min(0).max(100),
  }),
  profiles: z.array(z.object({ name: z.string(), dirtyMiBps: z.number().min(0) })).min(1),
  /** Techniques virt-balancer may choose here (see the inputs file for why post-copy is left out in the lab). */
  allowedTechniques: z.array(z.enum(TECHNIQUES)).optional(),
  allowedTechniquesWhy: z.string().optional(),
  /**
   * The TLS arm (issue 18): the same guest moved with pre-copy by the executor under the same cap,
   * migration.tls off then required, for these profiles; kept small so the benchmark barely grows.
   */
  tls: z.object({ profiles: z.array(z.string()).min(1), repeats: z.number().int().positive() }).optional(),
});
export type TechniqueInputs = z.infer<typeof inputsSchema>;

export interface MigrationRun {
  profile: string;
  arm: 'virsh-precopy' | 'virt-balancer';
  repeat: number;
  technique: string;
  converged: boolean;
  /** Wall time from start to done (converged) or to the abort (not converged), seconds. */
  totalSeconds: number;
  downtimeMs?: number;
  bytesMoved?: number;
  heartbeatIntact: boolean;
  /** The guest kernel panicked (console), e.g. after the move. */
  guestPanicked?: boolean;
  endedOn?: string;
  measuredDirtyRateMiBps?: number;
  predicted?: { totalSeconds: number; downtimeMs: number; bytes: number; converges: boolean };
  error?: string;
}

type LabHost = Lab['hosts'][number];

/** virt-balancer's arm: choose a technique and run one move. Wired to src/policy + src/executor. */
interface VirtBalancerArm {
  migrate(args: {
    vmName: string;
    from: LabHost;
    to: LabHost;
    memoryBytes: number;
    dirtyRateMiBps: number;
    inputs: TechniqueInputs;
  }): Promise<Omit<MigrationRun, 'profile' | 'arm' | 'repeat' | 'heartbeatIntact' | 'endedOn'>>;
}

function parseSize(text: string): number | undefined {
  const m = /([\d.]+)\s*(B|KiB|MiB|GiB|TiB)/.exec(text);
  if (!m) return undefined;
  const scale = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 }[m[2] as 'B'];
  return Number(m[1]) * scale;
}

/** Parses `virsh domjobinfo` output (the fields we report). */
export function parseDomJobInfo(text: string): { elapsedMs?: number; downtimeMs?: number; dataProcessedBytes?: number } {
  const field = (label: string) => new RegExp(`^${label}:\\s*(.+)$`, 'm').exec(text)?.[1];
  const num = (v?: string) => (v === undefined ? undefined : Number(/[\d.]+/.exec(v)?.[0]));
  return {
    elapsedMs: num(field('Time elapsed')),
    downtimeMs: num(field('Total downtime')),
    dataProcessedBytes: field('Data processed')
      ? parseSize(field('Data processed')!)
      : field('Memory processed')
        ? parseSize(field('Memory processed')!)
        : undefined,
  };
}

async function virsh(uri: string, args: string[], timeoutMs = 30_000): Promise<string> {
  const { stdout } = await execFileAsync('virsh', ['-c', uri, ...args], { timeout: timeoutMs });
  return stdout;
}

/** Measures the guest's dirty rate the way the collector does (libvirt's dirty-rate calculation). */
async function measureDirtyRateMiBps(uri: string, vmName: string): Promise<number | undefined> {
  try {
    await virsh(uri, ['domdirtyrate-calc', vmName, '--seconds', '1']);
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await virsh(uri, ['domstats', '--dirtyrate', vmName]);
    const m = /dirtyrate\.megabytes_per_second=(\d+)/.exec(stats);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Arm (a): plain virsh pre-copy with an operator's deadline. */
async function migrateWithVirsh(
  from: LabHost,
  to: LabHost,
  vmName: string,
  inputs: TechniqueInputs,
): Promise<Omit<MigrationRun, 'profile' | 'arm' | 'repeat' | 'heartbeatIntact' | 'endedOn'>> {
  const started = performance.now();
  const child = spawn(
    'virsh',
    ['-c', from.uri, 'migrate', '--live', '--p2p', '--bandwidth', String(inputs.bandwidthMiBps), vmName, to.uri, `tcp://${to.address}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let aborted = false;
  let atAbort: ReturnType<typeof parseDomJobInfo> = {};
  const timer = setTimeout(() => {
    aborted = true;
    // Read the live job first: after an abort libvirt keeps no completed stats for it.
    virsh(from.uri, ['domjobinfo', vmName])
      .then((text) => (atAbort = parseDomJobInfo(text)))
      .catch(() => {})
      .finally(() => virsh(from.uri, ['domjobabort', vmName]).catch(() => {}));
  }, inputs.deadlineSeconds * 1000);
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  const totalSeconds = (performance.now() - started) / 1000;
  const converged = code === 0 && !aborted;
  let info: ReturnType<typeof parseDomJobInfo> = {};
  try {
    info = parseDomJobInfo(await virsh(converged ? to.uri : from.uri, ['domjobinfo', '--completed', vmName]));
  } catch {
    /* stats are best effort; the wall time is ours */
  }
  return {
    technique: 'precopy',
    converged,
    totalSeconds: converged && info.elapsedMs ? info.elapsedMs / 1000 : totalSeconds,
    downtimeMs: converged ? info.downtimeMs : undefined,
    bytesMoved: info.dataProcessedBytes ?? atAbort.dataProcessedBytes,
    error: converged ? undefined : aborted ? `aborted at the ${inputs.deadlineSeconds} s deadline` : stderr.trim().split('\n')[0],
  };
}

/** virt-balancer's arm: the chooser picks the technique from the measured dirty rate, the executor runs the move. */
const virtBalancerArm: VirtBalancerArm = {
  async migrate({ vmName, from, to, memoryBytes, dirtyRateMiBps, inputs }) {
    const choice = chooseTechnique({
      memoryBytes,
      dirtyRateMiBps,
      bandwidthMiBps: inputs.bandwidthMiBps,
      downtimeBudgetMs: inputs.downtimeBudgetMs,
      allowed: inputs.allowedTechniques,
    });
    const started = performance.now();
    const outcome = await runSingleMove(
      {
        vmName,
        from: from.name,
        to: to.name,
        technique: choice.technique,
        predicted: choice.predicted,
        inputs: { memoryBytes, dirtyRateMiBps, bandwidthMiBps: inputs.bandwidthMiBps, downtimeBudgetMs: inputs.downtimeBudgetMs },
      },
      { fromUri: from.uri, toUri: to.uri, bandwidthMiBps: inputs.bandwidthMiBps, deadlineSeconds: inputs.deadlineSeconds },
    );
    return {
      technique: choice.technique,
      converged: outcome.ok,
      totalSeconds: outcome.totalSeconds ?? (performance.now() - started) / 1000,
      downtimeMs: outcome.downtimeMs,
      bytesMoved: outcome.bytes,
      measuredDirtyRateMiBps: dirtyRateMiBps,
      predicted: choice.predicted,
      error: outcome.error,
    };
  },
};

async function attachLab(inputs: TechniqueInputs, log: (l: string) => void): Promise<{ lab: Lab; down: () => Promise<void> } | string> {
  // Our own lab instance, so the benchmark never disturbs the lab the tests use.
  const lab = new Lab(inputs.labDir, inputs.labAddressPrefix);
  try {
    await lab.up({ hosts: 2, log: (m) => log(`techniques: lab: ${m}`) });
  } catch (error) {
    return `the lab in ${inputs.labDir} could not be brought up (${(error as Error).message.split('\n')[0]})`;
  }
  return { lab, down: () => lab.down() };
}

/** Intact = a fresh OK heartbeat after the move; also reports a guest kernel panic seen on the console. */
async function heartbeatAfter(lab: Lab, vmName: string, afterSeq: number): Promise<{ intact: boolean; panicked: boolean }> {
  let intact = false;
  try {
    const hb = await lab.waitForHeartbeat(vmName, { afterSeq, timeoutMs: 15_000 });
    intact = hb.status === 'OK';
  } catch {
    intact = false;
  }
  const last = await lab.heartbeat(vmName).catch(() => undefined);
  const panicked = Boolean(last?.panicked);
  return { intact: intact && !panicked, panicked };
}

function fmt(v: number | undefined, digits = 1): string {
  return v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits);
}

/** Bytes one pass must move for this guest: the median sent by idle-profile runs (zero pages are not sent). */
export function bytesThatMustMove(runs: readonly MigrationRun[], idleProfile: string): number | undefined {
  const idle = runs.filter((r) => r.profile === idleProfile && r.converged && r.bytesMoved !== undefined).map((r) => r.bytesMoved!);
  return idle.length ? median(idle) : undefined;
}

/**
 * One row per profile and arm. Converged N/N and heartbeat intact N/N count every run; time,
 * downtime and bandwidth medians count only runs that converged with the guest intact (a fast move
 * that corrupts the guest is no result). MiB/s is bytes over total time: both arms run under the
 * same cap, pre-copy and post-copy alike.
 */
export function techniquesTable(runs: readonly MigrationRun[], inputs: TechniqueInputs): string {
  const mustMove = bytesThatMustMove(runs, inputs.profiles[0].name);
  const boundSeconds = mustMove === undefined ? undefined : mustMove / 1048576 / inputs.bandwidthMiBps;
  const rows = [
    '| profile | dirty/bandwidth (set) | measured dirty MiB/s (/ bandwidth) | arm | technique(s) | converged | heartbeat intact | median total s | median downtime ms | median MiB moved | median MiB/s | bound s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const profile of inputs.profiles) {
    for (const arm of ['virsh-precopy', 'virt-balancer'] as const) {
      const rs = runs.filter((r) => r.profile === profile.name && r.arm === arm);
      if (rs.length === 0) continue;
      const good = rs.filter((r) => r.converged && r.heartbeatIntact);
      const aborted = rs.filter((r) => !r.converged);
      const med = (xs: (number | undefined)[]) => median(xs.filter((x): x is number => x !== undefined && Number.isFinite(x)));
      const dirty = med(rs.map((r) => r.measuredDirtyRateMiBps));
      const panics = rs.filter((r) => r.guestPanicked).length;
      rows.push(
        `| ${profile.name} | ${(profile.dirtyMiBps / inputs.bandwidthMiBps).toFixed(2)} | ${fmt(dirty, 0)} (${fmt(dirty / inputs.bandwidthMiBps, 2)}) | ${arm} | ${[...new Set(rs.map((r) => r.technique))].join(', ')} | ${rs.filter((r) => r.converged).length}/${rs.length}${aborted.length ? ` (gave up after ${fmt(med(aborted.map((r) => r.totalSeconds)))} s)` : ''} | ${rs.filter((r) => r.heartbeatIntact).length}/${rs.length}${panics ? ` (${panics} panicked)` : ''} | ${fmt(med(good.map((r) => r.totalSeconds)), 2)} | ${fmt(med(good.map((r) => r.downtimeMs)), 0)} | ${fmt(med(rs.map((r) => (r.bytesMoved === undefined ? undefined : r.bytesMoved / 1048576))), 0)} | ${fmt(med(good.map((r) => (r.bytesMoved === undefined ? undefined : r.bytesMoved / 1048576 / r.totalSeconds))), 1)} | ${fmt(boundSeconds, 2)} |`,
      );
    }
  }
  return rows.join('\n');
}

const relError = (actual: number, predicted: number) => Math.abs(actual - predicted) / actual;

/**
 * Median |prediction error| of total time per technique, over converged runs with the guest intact:
 * the model as shipped, and calibrated as the controller would be from the journal
 * (policy/calibration.ts), each run predicted from the other runs only (leave-one-out), so no run
 * is scored with its own answer.
 */
export function predictionErrorTable(runs: readonly MigrationRun[]): string {
  const scored = runs.filter((r) => r.predicted && r.converged && r.heartbeatIntact && r.totalSeconds > 0);
  if (scored.length === 0) return 'No converged virt-balancer migrations with the guest intact and a prediction to compare.';
  const rows = [
    '| technique | runs | profiles | median predicted total s | median real total s | median \\|error\\| total, model | median \\|error\\| total, calibrated | median predicted downtime ms | median real downtime ms |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const technique of [...new Set(scored.map((r) => r.technique))].sort()) {
    const rs = scored.filter((r) => r.technique === technique);
    const before = rs.map((r) => relError(r.totalSeconds, r.predicted!.totalSeconds));
    const after = rs.map((r) => {
      const others = rs.filter((o) => o !== r);
      const calibration = new PredictionCalibration(
        others.map((o) => ({ from: 'src', to: 'dst', technique, predictedSeconds: o.predicted!.totalSeconds, actualSeconds: o.totalSeconds })),
      );
      return relError(r.totalSeconds, r.predicted!.totalSeconds * calibration.factors('src', 'dst', technique as Technique).timeFactor);
    });
    rows.push(
      `| ${technique} | ${rs.length} | ${[...new Set(rs.map((r) => r.profile))].join(', ')} | ${fmt(median(rs.map((r) => r.predicted!.totalSeconds)), 2)} | ${fmt(median(rs.map((r) => r.totalSeconds)), 2)} | ${(median(before) * 100).toFixed(0)}% | ${rs.length > 1 ? `${(median(after) * 100).toFixed(0)}%` : 'n/a (one run)'} | ${fmt(median(rs.map((r) => r.predicted!.downtimeMs)), 0)} | ${fmt(median(rs.filter((r) => r.downtimeMs !== undefined).map((r) => r.downtimeMs!)), 0)} |`,
    );
  }
  return rows.join('\n');
}

export async function runTechniquesBench(
  options: { inputsPath?: string; log?: (line: string) => void } = {},
): Promise<{ title: string; markdown: string; json: unknown }> {
  const log = options.log ?? (() => {});
  const inputs = inputsSchema.parse(JSON.parse(await readFile(options.inputsPath ?? DEFAULT_TECHNIQUE_INPUTS, 'utf8')));
  const title = 'Technique choice: real migrations in the lab';
  const attached = await attachLab(inputs, log);
  if (typeof attached === 'string') return { title, markdown: `Not run: ${attached}.`, json: { inputs, notRun: attached } };
  const { lab } = attached;
  try {
    return await runInLab(lab, inputs, log, title);
  } finally {
    if (inputs.labDownAfter) await attached.down().catch((error) => log(`techniques: lab down failed: ${(error as Error).message}`));
  }
}

async function runInLab(
  lab: Lab,
  inputs: TechniqueInputs,
  log: (line: string) => void,
  title: string,
): Promise<{ title: string; markdown: string; json: unknown }> {
  const from = lab.hosts.find((h) => h.name === inputs.sourceHost);
  const to = lab.hosts.find((h) => h.name === inputs.targetHost);
  if (!from || !to) {
    const why = `lab has hosts ${lab.hosts.map((h) => h.name).join(', ')}; inputs name ${inputs.sourceHost} -> ${inputs.targetHost}`;
    return { title, markdown: `Not run: ${why}.`, json: { inputs, notRun: why } };
  }
  const armNote = 'virt-balancer arm: chooser + executor';

  const runs: MigrationRun[] = [];
  const arms: MigrationRun['arm'][] = ['virsh-precopy', 'virt-balancer'];
  for (const profile of inputs.profiles) {
    for (let repeat = 1; repeat <= inputs.repeats; repeat++) {
      for (const armName of arms) {
        const vmName = `bench-${armName === 'virsh-precopy' ? 'v' : 'b'}-${profile.dirtyMiBps}-${repeat}`;
        const base = { profile: profile.name, arm: armName, repeat };
        try {
          await lab.createVm({
            name: vmName,
            host: from.name,
            vcpus: inputs.vm.vcpus,
            memoryMiB: inputs.vm.memoryMiB,
            cpuBusyPercent: inputs.vm.cpuBusyPercent,
            dirtyMiBps: profile.dirtyMiBps,
            workloadMiB: inputs.vm.workloadMiB,
          });
          // Let the workload reach its steady dirtying rate before migrating.
          await new Promise((r) => setTimeout(r, 3000));
          // Measured for both arms, as the collector would; only virt-balancer uses it to choose.
          const measuredDirtyRateMiBps = await measureDirtyRateMiBps(from.uri, vmName);
          const before = await lab.heartbeat(vmName);
          const result =
            armName === 'virsh-precopy'
              ? await migrateWithVirsh(from, to, vmName, inputs)
              : await virtBalancerArm.migrate({
                  vmName,
                  from,
                  to,
                  memoryBytes: inputs.vm.memoryMiB * 1048576,
                  dirtyRateMiBps: measuredDirtyRateMiBps ?? profile.dirtyMiBps,
                  inputs,
                });
          const after = await heartbeatAfter(lab, vmName, before.seq);
          const run: MigrationRun = {
            ...base,
            ...result,
            measuredDirtyRateMiBps,
            heartbeatIntact: after.intact,
            guestPanicked: after.panicked,
            endedOn: await lab.whereIs(vmName),
          };
          runs.push(run);
          log(
            `techniques: ${profile.name} #${repeat} ${armName}: ${run.technique} ${run.converged ? 'converged' : 'not converged'} in ${run.totalSeconds.toFixed(1)} s, downtime ${run.downtimeMs ?? 'n/a'} ms, heartbeat ${run.heartbeatIntact ? 'ok' : run.guestPanicked ? 'LOST (guest kernel panic)' : 'LOST'}`,
          );
        } catch (error) {
          runs.push({ ...base, technique: 'n/a', converged: false, totalSeconds: Number.NaN, heartbeatIntact: false, error: (error as Error).message });
          log(`techniques: ${profile.name} #${repeat} ${armName}: error ${(error as Error).message}`);
        } finally {
          await lab.destroyVm(vmName).catch(() => {});
        }
      }
    }
  }
  const tlsRuns = inputs.tls ? await runTlsArm(lab, inputs, from, to, log) : [];
  const errors = runs.filter((r) => r.error && r.technique === 'n/a').map((r) => `- ${r.profile} #${r.repeat} ${r.arm}: ${r.error}`);
  const markdown = [
    `Lab \`${basename(inputs.labDir)}\` (${inputs.labAddressPrefix}x), ${from.name} -> ${to.name}; guests ${inputs.vm.memoryMiB} MiB (${inputs.vm.workloadMiB} MiB workload), bandwidth limit ${inputs.bandwidthMiBps} MiB/s, downtime budget ${inputs.downtimeBudgetMs} ms, operator deadline ${inputs.deadlineSeconds} s, ${inputs.repeats} repeats; inputs \`bench/inputs/techniques.json\`.`,
    '',
    armNote,
    '',
    techniquesTable(runs, inputs),
    '',
    '**Prediction error (virt-balancer arm):**',
    '',
    predictionErrorTable(runs.filter((r) => r.arm === 'virt-balancer')),
    ...(inputs.tls ? ['', '**Migration TLS (pre-copy by the executor, same guest and cap, migration.tls off vs required):**', '', tlsTable(tlsRuns)] : []),
    ...(errors.length ? ['', 'Errors:', ...errors] : []),
  ].join('\n');
  return { title, markdown, json: { inputs, armNote, runs, tlsRuns } };
}

export interface TlsRun {
  profile: string;
  tls: 'off' | 'required';
  repeat: number;
  ok: boolean;
  totalSeconds: number;
  bytesMoved?: number;
  /** CPU time of both QEMU processes (source and destination) over the move, seconds. */
  qemuCpuSeconds?: number;
  heartbeatIntact: boolean;
  error?: string;
}

/** QEMU processes of one guest (libvirt names it with -name guest=NAME,...), by /proc. */
async function qemuCpuSecondsOf(vmName: string): Promise<Map<number, number>> {
  const { readdir } = await import('node:fs/promises');
  const out = new Map<number, number>();
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    try {
      if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(`guest=${vmName},`)) continue;
      // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
      const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      out.set(Number(pid), (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/**
 * Each TLS profile moved twice per repeat from a fresh guest, plaintext then TLS, with a throwaway
 * migration PKI in each lab host's migrate_tls_x509_cert_dir (lab/pki.ts). QEMU CPU is sampled
 * every 100 ms for both processes (the source's ends with the move: its last sample counts).
 */
async function runTlsArm(lab: Lab, inputs: TechniqueInputs, from: LabHost, to: LabHost, log: (line: string) => void): Promise<TlsRun[]> {
  const runs: TlsRun[] = [];
  try {
    await makeMigrationPki(
      join(inputs.labDir, 'migration-pki'),
      [from, to].map((h) => ({ name: h.name, certDir: migrationPkiDir({ dir: join(inputs.labDir, 'hosts', h.name) }), addresses: [h.address] })),
    );
  } catch (error) {
    log(`techniques: TLS arm not run: ${(error as Error).message}`);
    return runs;
  }
  for (const profileName of inputs.tls!.profiles) {
    const profile = inputs.profiles.find((p) => p.name === profileName);
    if (!profile) continue;
    for (let repeat = 1; repeat <= inputs.tls!.repeats; repeat++) {
      for (const tls of ['off', 'required'] as const) {
        const vmName = `bench-tls-${tls}-${profile.dirtyMiBps}-${repeat}`;
        try {
          await lab.createVm({
            name: vmName,
            host: from.name,
            vcpus: inputs.vm.vcpus,
            memoryMiB: inputs.vm.memoryMiB,
            cpuBusyPercent: inputs.vm.cpuBusyPercent,
            dirtyMiBps: profile.dirtyMiBps,
            workloadMiB: inputs.vm.workloadMiB,
          });
          await new Promise((r) => setTimeout(r, 3000));
          const before = await lab.heartbeat(vmName);
          const first = new Map<number, number>();
          const last = new Map<number, number>();
          let done = false;
          const sampler = (async () => {
            while (!done) {
              for (const [pid, cpu] of await qemuCpuSecondsOf(vmName)) {
                if (!first.has(pid)) first.set(pid, cpu);
                last.set(pid, cpu);
              }
              await new Promise((r) => setTimeout(r, 100));
            }
          })();
          const r = await runSingleMove(
            { vmName, from: from.name, to: to.name, technique: 'precopy' },
            { fromUri: from.uri, toUri: to.uri, bandwidthMiBps: inputs.bandwidthMiBps, deadlineSeconds: inputs.deadlineSeconds, tls },
          );
          done = true;
          await sampler;
          const qemuCpuSeconds = [...last].reduce((sum, [pid, cpu]) => sum + cpu - first.get(pid)!, 0);
          const after = await heartbeatAfter(lab, vmName, before.seq);
          runs.push({
            profile: profile.name,
            tls,
            repeat,
            ok: r.ok,
            totalSeconds: r.totalSeconds,
            bytesMoved: r.bytes,
            qemuCpuSeconds,
            heartbeatIntact: after.intact,
            error: r.error,
          });
          log(
            `techniques: TLS ${tls} ${profile.name} #${repeat}: ${r.ok ? 'completed' : `failed (${r.error})`} in ${r.totalSeconds.toFixed(1)} s, QEMU CPU ${qemuCpuSeconds.toFixed(1)} s`,
          );
        } catch (error) {
          runs.push({ profile: profile.name, tls, repeat, ok: false, totalSeconds: Number.NaN, heartbeatIntact: false, error: (error as Error).message });
        } finally {
          await lab.destroyVm(vmName).catch(() => {});
        }
      }
    }
  }
  return runs;
}

/** One row per TLS profile and mode: medians over completed runs with the guest intact. */
export function tlsTable(runs: readonly TlsRun[]): string {
  if (runs.length === 0) return 'Not run (see the log).';
  const rows = [
    '| profile | migration.tls | completed | heartbeat intact | median total s | median MiB/s | median QEMU CPU s per GiB moved |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const profile of [...new Set(runs.map((r) => r.profile))]) {
    for (const tls of ['off', 'required'] as const) {
      const rs = runs.filter((r) => r.profile === profile && r.tls === tls);
      if (rs.length === 0) continue;
      const good = rs.filter((r) => r.ok && r.heartbeatIntact && r.bytesMoved);
      const med = (xs: number[]) => (xs.length ? median(xs) : undefined);
      rows.push(
        `| ${profile} | ${tls} | ${rs.filter((r) => r.ok).length}/${rs.length} | ${rs.filter((r) => r.heartbeatIntact).length}/${rs.length} | ${fmt(med(good.map((r) => r.totalSeconds)), 2)} | ${fmt(med(good.map((r) => r.bytesMoved! / 1048576 / r.totalSeconds)), 1)} | ${fmt(med(good.filter((r) => r.qemuCpuSeconds !== undefined).map((r) => r.qemuCpuSeconds! / (r.bytesMoved! / 2 ** 30))), 1)} |`,
      );
    }
  }
  return rows.join('\n');
}
