/**
 * A pinned VM (policy.pinnedVms, or a `pinned` tag) never moves: balancing and drains keep it, and
 * so do an operator's `migrate` (refused 'vm-pinned', naming the VM and the pin) and a maintenance
 * roll's return step (the VM stays where it is, said in the step's detail; the others go back).
 * Both moved it: planMigration checked no pin.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ClusterState } from '../../../src/cluster/model.js';
import { parseConfig } from '../../../src/config/load.js';
import { RequestRefused } from '../../../src/controller/errors.js';
import { liveRollSteps } from '../../../src/controller/workflows/maintenance-steps.js';
import { planMigration } from '../../../src/controller/workflows/migrate.js';
import type { MigrationResult } from '../../../src/executor/index.js';
import '../../../policies/index.js';
import { testWorkflowContext } from './workflow-context.js';
import type { Move } from '../../../src/policy/index.js';
import { host, state, vm } from '../policy/fixtures.js';

async function context(observed: () => ClusterState, pinnedVms: string[]) {
  const config = parseConfig({
    hosts: ['a', 'b'].map((name, i) => ({ name, uri: `qemu+tcp://127.0.0.1:${i + 1}/system` })),
    policy: { pinnedVms },
  });
  const runNow = vi.fn(
    async (m: Move) =>
      ({ vm: m.vmName, vmUuid: m.vmUuid, from: m.from, to: m.to, technique: 'precopy', outcome: 'completed', totalMs: 1000 }) as unknown as MigrationResult,
  );
  const ctx = await testWorkflowContext(config, { runNow, inFlight: () => [] }, observed);
  return { ctx, runNow };
}

describe('a pinned VM never moves', () => {
  it('migrate refuses a VM of policy.pinnedVms, and one tagged pinned, naming the VM and the pin (vm-pinned)', async () => {
    const observed = state([host('a'), host('b')], [vm('db', 'a', 0.1), vm('tagged', 'a', 0.1, { tags: ['pinned'] }), vm('web', 'a', 0.1)]);
    const { ctx } = await context(() => observed, ['db']);
    const refused = await planMigration(ctx, observed, { vm: 'db', to: 'b', technique: 'auto' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RequestRefused);
    expect(refused).toMatchObject({
      code: 'vm-pinned',
      message: 'VM "db" is pinned (listed in policy.pinnedVms; take it out of the list to move it): it never moves, so it stays on a',
    });
    await expect(planMigration(ctx, observed, { vm: 'tagged', to: 'b', technique: 'auto' })).rejects.toMatchObject({
      code: 'vm-pinned',
      message: expect.stringContaining('tagged "pinned" in its libvirt metadata'),
    });
    // Not pinned: planned as before.
    expect((await planMigration(ctx, observed, { vm: 'web', to: 'b', technique: 'auto' })).move).toMatchObject({ vmName: 'web', to: 'b' });
  });

  it("a roll's return step leaves a VM pinned since its drain where it is, says so, and returns the others", async () => {
    const residents = [
      { name: 'db', uuid: vm('db', 'a', 0).uuid },
      { name: 'web', uuid: vm('web', 'a', 0).uuid },
    ];
    const { ctx, runNow } = await context(() => state([host('a'), host('b')], [vm('db', 'b', 0.1), vm('web', 'b', 0.1)]), ['db']);
    const outcome = await liveRollSteps(ctx, { hookTimeoutMs: 1000, healthyTimeoutMs: 0, pollMs: 1 }).returnVms('a', residents);
    expect(outcome).toEqual({
      ok: true,
      moved: ['web'],
      detail: 'not returned: db stays on b (pinned: listed in policy.pinnedVms; take it out of the list to move it)',
    });
    expect(runNow.mock.calls.map(([m]) => `${m.vmName} ${m.from}->${m.to}`)).toEqual(['web b->a']);
  });
});
