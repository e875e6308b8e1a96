/**
 * A custom policy run in a worker thread (node:worker_threads), so that one stuck in a loop — at
 * import or in select/filter/score/technique, synchronous or not — is stopped after its time
 * (Worker.terminate interrupts running JavaScript) instead of hanging the controller's event loop,
 * its /healthz and its signal handlers. Built-in policies run in-process.
 *
 * The proxy returned by `policy` has the module's name and extension points; each call sends the
 * arguments and a copy of what the context exposes (state and config once per plan, projected
 * hosts per call) and resolves with the worker's answer, or rejects when the policy threw, or ran
 * past policy.policyTimeoutMs (the worker is then terminated and, for the rest of that plan, the
 * policy's calls fail at once; the next plan starts a fresh worker).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ClusterState, Policy, PolicyConfig, PolicyContext } from './api.js';
import { PolicyTimeoutError } from './policy-timeout.js';

/** What the worker needs once per plan: the parts of the context that do not change during it. */
export interface IsolatedContext {
  state: ClusterState;
  config: PolicyConfig;
  options: Record<string, unknown>;
  thresholds: PolicyContext['thresholds'];
  nowMs: number;
}

/** One extension-point call, with the projected hosts as planned so far. */
export interface IsolatedCall {
  type: 'call';
  id: number;
  point: 'select' | 'filter' | 'score' | 'technique';
  args: unknown[];
  view: {
    projected: {
      name: string;
      cpuRatio: number;
      cpuRatioP90: number;
      cpuSeries?: number[];
      memoryUsedBytes: number;
      placedMemoryBytes: number;
      vcpus: number;
      vmUuids: string[];
      forecastCpu: number;
      spreadSource?: string;
    }[];
    overloaded: string[];
    /** VMs whose planned place is not the host they are observed on: [uuid, host]. */
    moved: [string, string][];
  };
}

export type WorkerReply =
  | { type: 'reply'; id: number; ok: true; value: unknown; notices?: string[] }
  | { type: 'reply'; id: number; ok: false; message: string };

type Point = IsolatedCall['point'];

export interface IsolatedPolicyOptions {
  /** A call that has not returned after this long stops the worker (policy.policyTimeoutMs). */
  callTimeoutMs: number;
  /** Importing the module must finish within this long. */
  importTimeoutMs: number;
  /**
   * The worker's memory in all, MiB (policy.policyMemoryMiB; default 512): its V8 heap is limited
   * to half of it (resourceLimits), and the process's resident memory may grow by at most this
   * much while the worker lives — Buffers and ArrayBuffers live outside the V8 heap, which
   * resourceLimits alone does not bound. Past it the worker is stopped and its calls fail naming it.
   */
  maxMemoryMiB?: number;
  /**
   * Run before every start of a worker — the first and each fresh one after a timeout or crash —
   * so the module is imported only after it passed the check (the loader's ownership and mode
   * check: a file made writable by others after the first load must not run then). A throw
   * fails the load or the call with its message.
   */
  beforeStart?: () => Promise<void>;
  /** The policy's options from config, handed to its checkOptions in the worker at each start (optionProblems). */
  policyOptions?: Readonly<Record<string, unknown>>;
}

/** The module did not load in its worker: import error, no policy exported, or a loop at import. */
export class IsolatedPolicyLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IsolatedPolicyLoadError';
  }
}

/** The module name a custom policy imports its API from (docs/policies.md). */
export const POLICY_API_NAME = 'virt-balancer/policy';

// The worker runs the TypeScript sources when we do (tsx registered in it), else the compiled file.
const here = fileURLToPath(import.meta.url);
const WORKER_ENTRY = pathToFileURL(here.slice(0, -extname(here).length).replace(/isolated-policy$/, 'policy-worker') + extname(here)).href;
// tsx registered in the worker for ESM and CommonJS, as bin/virt-balancer.js has it in the main
// thread (tsx's own entry does not register in a worker), resolved from here so the worker finds it
// from any working directory.
const TSX_PACKAGE = createRequire(import.meta.url).resolve('tsx/package.json');
const TSX_EXPORTS = (JSON.parse(readFileSync(TSX_PACKAGE, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
const TSX_APIS = ['./esm/api', './cjs/api'].map((api) => pathToFileURL(join(dirname(TSX_PACKAGE), TSX_EXPORTS[api].import.default)).href);
// `virt-balancer/policy` in a policy module is this program's own policy API, wherever the module
// is and whether or not dist/ was built: a clone runs src/policy/api.ts, an install
// dist/src/policy/api.js. Without this the name resolved only through a node_modules link
// (install.sh's /etc/virt-balancer/node_modules) or the clone's package.json exports (dist/, so a
// clone needed a build first). ESM imports through a resolve hook, CommonJS requires (a directory
// without a package.json is CommonJS scope for tsx) through Module._resolveFilename.
const POLICY_API_FILE = here.slice(0, -extname(here).length).replace(/isolated-policy$/, 'api') + extname(here);
const POLICY_API_HOOK = `data:text/javascript,${encodeURIComponent(
  `export async function resolve(specifier, context, next) { return next(specifier === ${JSON.stringify(POLICY_API_NAME)} ? ${JSON.stringify(pathToFileURL(POLICY_API_FILE).href)} : specifier, context); }`,
)}`;
const BOOTSTRAP = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  for (const api of workerData.tsx) (await import(api)).register();
  const nodeModule = require('node:module');
  nodeModule.register(workerData.apiHook);
  const resolveFilename = nodeModule.Module._resolveFilename;
  nodeModule.Module._resolveFilename = function (request, ...rest) {
    return resolveFilename.call(this, request === workerData.apiName ? workerData.apiFile : request, ...rest);
  };
  await import(workerData.entry);
})().catch((e) => parentPort.postMessage({ type: 'load-error', message: 'policy worker failed to start: ' + String(e && e.message || e) }));
`;

export class IsolatedPolicy {
  private worker?: Worker;
  private ready?: Promise<void>;
  private nextId = 1;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; ctx: PolicyContext }>();
  /** The context of the plan the worker has (sent once per plan). */
  private sentContext?: PolicyContext;
  /** The plan during which the policy ran past its time: its later calls in that plan fail at once. */
  private stoppedIn?: PolicyContext;
  private stoppedReason = '';
  name = '';
  description?: string;
  softFilter?: boolean;
  points: Point[] = [];
  /** What the module's checkOptions said of IsolatedPolicyOptions.policyOptions at the last start ([] when it has none). */
  optionProblems: string[] = [];

  private constructor(
    readonly file: string,
    private readonly options: IsolatedPolicyOptions,
  ) {}

  /**
   * Start a worker for the module and read its policy's name and extension points.
   * @throws IsolatedPolicyLoadError when the module fails to import, exports no policy, or does
   *   not finish importing within importTimeoutMs.
   */
  static async load(file: string, options: IsolatedPolicyOptions): Promise<IsolatedPolicy> {
    const isolated = new IsolatedPolicy(file, options);
    await isolated.start();
    return isolated;
  }

  /** One start at a time: two calls that find no worker share the same fresh one. */
  private starting?: Promise<void>;

  private start(): Promise<void> {
    this.starting ??= (async () => {
      try {
        await this.options.beforeStart?.();
        await this.spawn();
      } finally {
        this.starting = undefined;
      }
    })();
    return this.starting;
  }

  private get maxMemoryMiB(): number {
    return this.options.maxMemoryMiB ?? 512;
  }

  /**
   * Stop `worker` when the process's resident memory grew by more than maxMemoryMiB since it
   * started. V8 offers no per-worker measure of memory outside the heap, so growth of the whole
   * process is charged to the worker (the controller's own is small next to the limit); sampled
   * every 100 ms from this thread, which a policy's synchronous loop does not block.
   */
  private watchMemory(worker: Worker, baselineBytes: number): void {
    const limitBytes = this.maxMemoryMiB * 1024 * 1024;
    const timer = setInterval(() => {
      const grownBytes = process.memoryUsage.rss() - baselineBytes;
      if (grownBytes <= limitBytes) return;
      clearInterval(timer);
      const why = `used more than policy.policyMemoryMiB (${this.maxMemoryMiB} MiB: heap, Buffers and ArrayBuffers; the process grew by ${Math.round(grownBytes / 1048576)} MiB) and its worker thread was stopped`;
      this.stoppedReason = why;
      this.memoryProblem = why;
      // The rest of this plan does not start it again (each start would grow to the limit anew).
      this.stoppedIn = this.sentContext;
      if (this.worker === worker) void this.stop(worker);
      else void worker.terminate();
    }, 100);
    timer.unref();
    worker.once('exit', () => clearInterval(timer));
  }

  /** Why the last worker was stopped for its memory (reported instead of its bare exit). */
  private memoryProblem?: string;

  private spawn(): Promise<void> {
    this.memoryProblem = undefined;
    const baselineBytes = process.memoryUsage.rss();
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: {
        file: this.file,
        options: this.options.policyOptions ?? {},
        entry: WORKER_ENTRY,
        tsx: TSX_APIS,
        apiHook: POLICY_API_HOOK,
        apiName: POLICY_API_NAME,
        apiFile: POLICY_API_FILE,
      },
      resourceLimits: { maxOldGenerationSizeMb: Math.floor(this.maxMemoryMiB / 2) },
      stdout: false,
      stderr: false,
    });
    this.worker = worker;
    this.sentContext = undefined;
    this.watchMemory(worker, baselineBytes);
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        void this.stop(worker);
        reject(
          new IsolatedPolicyLoadError(
            `policy module ${this.file} did not finish loading within ${this.options.importTimeoutMs} ms (a loop at import time?); it was stopped`,
          ),
        );
      }, this.options.importTimeoutMs);
      worker.on(
        'message',
        (m: {
          type: string;
          name?: string;
          description?: string;
          softFilter?: boolean;
          points?: Point[];
          optionProblems?: string[];
          message?: string;
          id?: number;
          ok?: boolean;
          value?: unknown;
          notices?: string[];
        }) => {
          if (m.type === 'ready') {
            clearTimeout(timer);
            this.name = m.name!;
            this.description = m.description;
            this.softFilter = m.softFilter;
            this.points = m.points!;
            this.optionProblems = m.optionProblems ?? [];
            resolve();
          } else if (m.type === 'load-error') {
            clearTimeout(timer);
            void this.stop(worker);
            reject(new IsolatedPolicyLoadError(m.message!));
          } else if (m.type === 'reply') {
            const call = this.calls.get(m.id!);
            if (!call) return;
            this.calls.delete(m.id!);
            // Notices the policy made in the worker reach the plan as an in-process policy's do.
            for (const n of m.notices ?? []) call.ctx.notice(n);
            if (m.ok) call.resolve(m.value);
            else call.reject(new Error(m.message));
          }
        },
      );
      const gone = (bare: string) => {
        const why = this.memoryProblem ?? bare;
        clearTimeout(timer);
        reject(new IsolatedPolicyLoadError(`policy module ${this.file}: ${why}`));
        if (this.worker === worker) this.worker = undefined;
        for (const [id, call] of this.calls) {
          this.calls.delete(id);
          call.reject(new Error(why));
        }
      };
      worker.on('error', (e) => gone(`its worker failed: ${e.message}`));
      worker.on('exit', (code) => gone(`its worker exited (code ${code})`));
    });
    // Never what keeps the process alive (`plan` exits when it is done). After the listeners:
    // adding a 'message' listener refs the worker's port again.
    worker.unref();
    return this.ready;
  }

  private async stop(worker: Worker): Promise<void> {
    if (this.worker === worker) this.worker = undefined;
    await worker.terminate();
  }

  /** The Policy the engine calls: the module's name and extension points, each forwarded to the worker. */
  get policy(): Policy {
    const policy: Policy = { name: this.name, description: this.description, softFilter: this.softFilter };
    const forward =
      (point: Point) =>
      (...args: unknown[]) =>
        this.call(point, args.slice(0, -1), args[args.length - 1] as PolicyContext);
    for (const point of this.points) (policy as unknown as Record<Point, unknown>)[point] = forward(point);
    return policy;
  }

  private call(point: Point, args: unknown[], ctx: PolicyContext): Promise<unknown> {
    if (this.stoppedIn === ctx) return Promise.reject(new PolicyTimeoutError(`not called: ${this.stoppedReason} earlier in this plan`));
    const timeoutMs = this.options.callTimeoutMs;
    const id = this.nextId++;
    // The clock starts now, synchronously, so this timer (which stops the worker) fires before the
    // engine's own timeout for the same call.
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        this.stoppedIn = ctx;
        this.stoppedReason = `${point} ran past policy.policyTimeoutMs (${timeoutMs} ms) and its worker thread was stopped`;
        if (this.worker) void this.stop(this.worker);
        reject(new PolicyTimeoutError(`did not return within ${timeoutMs} ms (policy.policyTimeoutMs); its worker thread was stopped`));
      }, timeoutMs);
      const settle = { resolve: (v: unknown) => (clearTimeout(timer), resolve(v)), reject: (e: Error) => (clearTimeout(timer), reject(e)), ctx };
      this.send(id, point, args, ctx).then(
        () => this.calls.set(id, settle),
        (e: Error) => settle.reject(e),
      );
    });
  }

  /** Post one call to the worker (starting a fresh one if the last was stopped). */
  private async send(id: number, point: Point, args: unknown[], ctx: PolicyContext): Promise<void> {
    if (!this.worker) await this.start();
    await this.ready;
    const worker = this.worker;
    if (!worker) throw new Error('its worker thread is gone');
    if (this.sentContext !== ctx) {
      const context: IsolatedContext = { state: ctx.state, config: ctx.config, options: ctx.options, thresholds: ctx.thresholds, nowMs: ctx.nowMs };
      worker.postMessage({ type: 'context', context });
      this.sentContext = ctx;
    }
    const projected: IsolatedCall['view']['projected'] = [];
    const overloaded: string[] = [];
    for (const host of ctx.state.hosts) {
      const p = ctx.projected(host.name);
      if (p)
        projected.push({
          name: host.name,
          cpuRatio: p.cpuRatio,
          cpuRatioP90: p.cpuRatioP90,
          cpuSeries: p.cpuSeries,
          memoryUsedBytes: p.memoryUsedBytes,
          placedMemoryBytes: p.placedMemoryBytes,
          vcpus: p.vcpus,
          vmUuids: [...p.vmUuids],
          forecastCpu: ctx.forecastCpu(host.name),
          spreadSource: ctx.spreadSource(host.name),
        });
      if (ctx.overloaded(host.name)) overloaded.push(host.name);
    }
    const moved: [string, string][] = [];
    for (const vm of ctx.state.vms) {
      const place = ctx.placeOf(vm.uuid);
      if (place !== undefined && place !== vm.host) moved.push([vm.uuid, place]);
    }
    const message: IsolatedCall = { type: 'call', id, point, args, view: { projected, overloaded, moved } };
    worker.postMessage(message);
  }

  /** Stop the worker (config reload, shutdown). */
  async close(): Promise<void> {
    if (this.worker) await this.stop(this.worker);
  }
}
