/**
 * The worker-thread side of an isolated custom policy (see isolated-policy.ts): imports one policy
 * module, reports its name and extension points, then answers calls. It runs in its own thread so
 * that a policy stuck in a loop, at import or in a call, can be stopped (Worker.terminate) without
 * stopping the controller.
 *
 * Messages in: { type: 'context', ... } once per plan, then { type: 'call', id, point, args, view }.
 * Messages out: { type: 'ready', name, description, points, optionProblems } or { type: 'load-error', message },
 * then { type: 'reply', id, ok, value | message } per call.
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { HostObservation, Policy, PolicyContext, ProjectedHost, VmObservation } from './api.js';
import type { IsolatedCall, IsolatedContext, WorkerReply } from './isolated-policy.js';
import { describeModuleLoadError } from './load-error.js';
import { p90WithWindow } from '../cluster/window.js';

const POINTS = ['select', 'filter', 'score', 'technique'] as const;

function isPolicy(value: unknown): value is Policy {
  return Boolean(value) && typeof (value as Policy).name === 'string' && POINTS.some((k) => typeof (value as Record<string, unknown>)[k] === 'function');
}

const port = parentPort!;
const { file, options } = workerData as { file: string; options: Record<string, unknown> };

/** The module's checkOptions on the configured options. @throws what checkOptions throws, or when it returns no list. */
function optionProblems(policy: Policy): string[] {
  if (typeof policy.checkOptions !== 'function') return [];
  const problems = policy.checkOptions(options);
  if (!Array.isArray(problems)) throw new Error(`checkOptions returned ${typeof problems}, not a list of problems`);
  return problems.map(String);
}

let policy!: Policy;
try {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const exported = mod.default ?? mod.policy;
  if (!isPolicy(exported)) {
    port.postMessage({
      type: 'load-error',
      message: `policy module ${file} exports no policy: default-export definePolicy({ name, filter/score/select/technique })`,
    });
    process.exit(0);
  }
  policy = exported as Policy;
  let problems: string[];
  try {
    problems = optionProblems(policy);
  } catch (error) {
    port.postMessage({ type: 'load-error', message: `policy module ${file}: its checkOptions failed on the configured options: ${(error as Error).message}` });
    process.exit(0);
  }
  port.postMessage({
    type: 'ready',
    name: policy.name,
    description: policy.description,
    softFilter: policy.softFilter === true ? true : undefined,
    points: POINTS.filter((p) => typeof policy[p] === 'function'),
    optionProblems: problems,
  });
} catch (error) {
  port.postMessage({ type: 'load-error', message: `policy module ${file} failed to load: ${describeModuleLoadError(file, error)}` });
  process.exit(0);
}

let context: IsolatedContext | undefined;
/** Notices the current call made (PolicyContext.notice), sent back with its reply. */
let notices: string[] = [];
let hosts = new Map<string, HostObservation>();
let vms = new Map<string, VmObservation>();
let vmsByHost = new Map<string, VmObservation[]>();

function contextFor(call: IsolatedCall): PolicyContext {
  const c = context!;
  const projected = new Map<string, ProjectedHost>();
  const forecast = new Map(call.view.projected.map((p) => [p.name, p.forecastCpu]));
  const spread = new Map(call.view.projected.map((p) => [p.name, p.spreadSource]));
  const moved = new Map(call.view.moved);
  for (const p of call.view.projected) {
    const host = hosts.get(p.name);
    if (host)
      projected.set(p.name, {
        host,
        cpuRatio: p.cpuRatio,
        cpuRatioP90: p.cpuRatioP90,
        cpuSeries: p.cpuSeries,
        memoryUsedBytes: p.memoryUsedBytes,
        placedMemoryBytes: p.placedMemoryBytes,
        vcpus: p.vcpus,
        vmUuids: new Set(p.vmUuids),
      });
  }
  const overloaded = new Set(call.view.overloaded);
  return {
    state: c.state,
    config: c.config,
    options: c.options,
    thresholds: c.thresholds,
    nowMs: c.nowMs,
    host: (name) => hosts.get(name),
    vm: (uuid) => vms.get(uuid),
    projected: (name) => projected.get(name),
    overloaded: (name) => overloaded.has(name),
    spreadSource: (name) => spread.get(name),
    forecastCpu: (name) => forecast.get(name) ?? 0,
    vmsOn: (name) => vmsByHost.get(name) ?? [],
    placeOf: (uuid) => moved.get(uuid) ?? vms.get(uuid)?.host,
    // Same share as the engine's (src/policy/engine.ts): the VM's mean CPU demand over the host's CPUs.
    cpuShare: (vm, host) => (host.cpuCount > 0 ? (vm.cpuUtilization.mean * vm.vcpus) / host.cpuCount : 0),
    notice: (message) => {
      notices.push(String(message));
    },
    // Same as the engine's (projection.ts cpuP90With): per-instant sum of the windows, then the p90.
    cpuP90With: (vm, name) => {
      const p = projected.get(name);
      if (!p) return 0;
      const weight = p.host.cpuCount > 0 ? vm.vcpus / p.host.cpuCount : 0;
      return Math.max(
        p90WithWindow({ series: p.cpuSeries, p90: p.cpuRatioP90 }, { window: vm.cpuUtilization, weight }),
        p.cpuRatio + vm.cpuUtilization.mean * weight,
      );
    },
  };
}

port.on('message', async (message: { type: 'context'; context: IsolatedContext } | IsolatedCall) => {
  if (message.type === 'context') {
    context = message.context;
    hosts = new Map(context.state.hosts.map((h) => [h.name, h]));
    vms = new Map(context.state.vms.map((v) => [v.uuid, v]));
    vmsByHost = new Map();
    for (const vm of context.state.vms) {
      const list = vmsByHost.get(vm.host);
      if (list) list.push(vm);
      else vmsByHost.set(vm.host, [vm]);
    }
    return;
  }
  let reply: WorkerReply;
  notices = [];
  try {
    const ctx = contextFor(message);
    const fn = policy[message.point] as (...args: unknown[]) => unknown;
    const value = await fn.call(policy, ...message.args, ctx);
    reply = { type: 'reply', id: message.id, ok: true, value, ...(notices.length > 0 ? { notices } : {}) };
  } catch (error) {
    reply = { type: 'reply', id: message.id, ok: false, message: String((error as Error)?.message ?? error) };
  }
  try {
    port.postMessage(reply);
  } catch (error) {
    // A value that cannot be copied to the controller (functions, symbols) is a bad return value.
    port.postMessage({ type: 'reply', id: message.id, ok: false, message: `returned a value that cannot be passed back: ${(error as Error).message}` });
  }
});
