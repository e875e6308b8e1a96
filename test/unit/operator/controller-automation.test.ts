/**
 * The controller's tick by automation level, with the cluster observed from a fixture (no libvirt):
 * which moves reach the executor, which become recommendations (store, journal, metrics), and the
 * maintenance webhook events between ticks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClusterState } from '../../../src/cluster/model.js';
import { parseConfig } from '../../../src/config/index.js';
import { Controller } from '../../../src/controller/controller.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import { loadPolicies, type LoadedPolicy } from '../../../src/policy/loader.js';
import type { Move } from '../../../src/policy/plan-types.js';
import { host, state, vm } from '../policy/fixtures.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-automation-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** lab-like cluster: a in maintenance (m1 must leave), c hot (balancing moves), b and d idle. */
function cluster(maintenanceOnA = true): ClusterState {
  const vms = [vm('m1', 'a', 0.1), ...[1, 2, 3, 4, 5, 6, 7].map((i) => vm(`hot${i}`, 'c', 0.9, { dirtyRateMiBps: 1, dirtyRateMeasuredAtMs: Date.now() }))];
  vms[0] = { ...vms[0], dirtyRateMiBps: 1, dirtyRateMeasuredAtMs: Date.now() };
  return { ...state([host('a', { maintenance: maintenanceOnA }), host('b'), host('c'), host('d')], vms), observedAtMs: Date.now() };
}

async function controllerWith(automation: string) {
  const config = parseConfig(
    {
      hosts: ['a', 'b', 'c', 'd'].map((name) => ({ name, uri: `qemu+tcp://${name}.example/system` })),
      stateDir: dir,
      policy: { automation, maxMovesPerTick: 10 },
    },
    'test.yaml',
  );
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  const controller = new Controller(config, { logger: silentLogger(), metrics });
  // What init() loads, without connecting to hosts.
  (controller as unknown as { policies: LoadedPolicy[] }).policies = await loadPolicies(config.policy);
  const collect = vi.spyOn(controller.collector, 'collect').mockResolvedValue(cluster());
  vi.spyOn(controller.collector, 'measureDirtyRates').mockResolvedValue(new Map());
  const submitted: Move[][] = [];
  vi.spyOn(controller.executor, 'submit').mockImplementation((moves) => (submitted.push([...moves]), { admitted: [...moves], rejected: [] }));
  return { controller, metrics, submitted, collect };
}

describe('controller tick by policy.automation', () => {
  it('full: every planned move goes to the executor, nothing is recommended', async () => {
    const { controller, submitted } = await controllerWith('full');
    const report = await controller.tick();
    expect(report.plan.moves.length).toBeGreaterThan(1);
    expect(submitted).toEqual([report.plan.moves]);
    expect(report.recommended).toEqual([]);
    expect(await controller.recommendations.list()).toEqual([]);
  });

  it('partial: the maintenance drain runs, balancing moves wait as recommendations (store, journal, metrics)', async () => {
    const { controller, metrics, submitted } = await controllerWith('partial');
    const report = await controller.tick();
    expect(submitted).toHaveLength(1);
    expect(submitted[0].map((m) => [m.vmName, m.mustMove])).toEqual([['m1', true]]);
    const balancing = report.plan.moves.filter((m) => !m.mustMove);
    expect(balancing.length).toBeGreaterThan(0);
    expect(report.recommended.map((r) => [r.move.vmName, r.kind])).toEqual(balancing.map((m) => [m.vmName, 'balancing']));
    expect((await controller.recommendations.waiting()).map((r) => r.id)).toEqual(report.recommended.map((r) => r.id));
    const journal = await controller.journal.read();
    expect(journal.filter((e) => e.type === 'recommended').map((e) => (e as { id: string }).id)).toEqual(report.recommended.map((r) => r.id));
    const text = await metrics.registry.getSingleMetricAsString('virt_balancer_recommendations_waiting');
    expect(text).toContain(`virt_balancer_recommendations_waiting{kind="balancing"} ${balancing.length}`);
    expect(text).toContain('virt_balancer_recommendations_waiting{kind="must-move"} 0');
    // The next tick plans the same moves: no new recommendations, the same ids wait.
    const again = await controller.tick();
    expect(again.recommended).toEqual([]);
    expect((await controller.recommendations.waiting()).length).toBe(balancing.length);
  });

  it('manual: nothing runs; the drain waits too, as a must-move', async () => {
    const { controller, submitted } = await controllerWith('manual');
    const report = await controller.tick();
    expect(submitted).toEqual([[]]);
    expect(report.recommended.find((r) => r.move.vmName === 'm1')?.kind).toBe('must-move');
    expect(report.recommended.length).toBe(report.plan.moves.length);
  });

  it('dry run: nothing runs and nothing is recommended', async () => {
    const { controller, submitted } = await controllerWith('manual');
    (controller as unknown as { options: { dryRun?: boolean } }).options.dryRun = true;
    const report = await controller.tick();
    expect(submitted).toEqual([]);
    expect(report.recommended).toEqual([]);
  });

  it('notifies host.maintenance.left when a host leaves maintenance between ticks, nothing at the first tick', async () => {
    const { controller, collect } = await controllerWith('manual');
    const notify = vi.spyOn(controller.notifier, 'notify');
    await controller.tick();
    expect(notify).not.toHaveBeenCalled();
    collect.mockResolvedValue(cluster(false));
    await controller.tick();
    expect(notify.mock.calls.map((c) => [c[0], c[1]])).toEqual([['host.maintenance.left', { host: 'a' }]]);
  });
});

describe('a host the daemon drains for an operator', () => {
  it("is in maintenance in the observation the operator's approve and migrate run on, as in the tick's (nothing moves onto it)", async () => {
    const { controller } = await controllerWith('full');
    controller.draining.add('b');
    const observed = await controller.workflowContext().observe();
    expect(observed.hosts.find((h) => h.name === 'b')?.maintenance).toBe(true);
    expect(observed.hosts.find((h) => h.name === 'd')?.maintenance).toBe(false);
    controller.draining.delete('b');
    expect((await controller.workflowContext().observe()).hosts.find((h) => h.name === 'b')?.maintenance).toBe(false);
  });
});
