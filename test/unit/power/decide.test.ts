import { describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../../src/config/schema.js';
import type { ClusterState, HostObservation } from '../../../src/cluster/model.js';
import type { PowerJournalEntry } from '../../../src/history/index.js';
import { defaultPolicies } from '../../../src/policy/loader.js';
import { plan } from '../../../src/policy/engine.js';
import { choosePowerOffs, markPowerStates, powerOffHolds, powerTransitions } from '../../../src/power/decide.js';
import { PowerStates } from '../../../src/power/states.js';
import { chooseWake } from '../../../src/power/wake.js';
import { host, state, vm } from '../policy/fixtures.js';

const NOW = 10_000_000;

function config(power: Record<string, unknown> = {}, policy: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    hosts: ['a', 'b', 'c', 'd'].map((n, i) => ({ name: n, uri: `qemu+tcp://10.0.0.${i + 1}/system` })),
    policy: { goal: 'consolidate', maxMovesPerTick: 4, cooldownSeconds: 600, ...policy },
    power: { action: 'command', powerOffCommand: ['off', '{name}'], powerOnCommand: ['on', '{address}'], ...power },
  });
}

const entry = (
  host: string,
  action: PowerJournalEntry['action'],
  event: PowerJournalEntry['event'],
  atMs: number,
  extra: Partial<PowerJournalEntry> = {},
): PowerJournalEntry => ({
  type: 'power',
  atMs,
  host,
  action,
  event,
  method: 'command',
  ...extra,
});

const standbyHost = (name: string): HostObservation => host(name, { up: false, downReason: 'connection refused', cpuCount: 0, memoryTotalBytes: 0 });

describe('power states from the journal', () => {
  it('follows requested -> done -> standby -> waking -> awake, and ignores recommendations and dry runs', () => {
    const s = new PowerStates([
      entry('b', 'power-off', 'recommended', 1),
      entry('b', 'power-off', 'requested', 2, { dryRun: true }),
      entry('b', 'power-off', 'requested', 3),
    ]);
    expect(s.of('b').state).toBe('powering-off');
    s.apply(entry('b', 'power-off', 'done', 4, { capacity: { cpuCount: 8, memoryTotalBytes: 1024 } }));
    expect(s.of('b')).toMatchObject({ state: 'standby', standbySinceMs: 4, capacity: { cpuCount: 8, memoryTotalBytes: 1024 } });
    expect(s.standby()).toEqual(['b']);
    s.apply(entry('b', 'power-on', 'requested', 5));
    expect(s.of('b').state).toBe('waking');
    s.apply(entry('b', 'power-on', 'failed', 6));
    expect(s.of('b')).toMatchObject({ state: 'standby', standbySinceMs: 6 });
    s.apply(entry('b', 'power-on', 'requested', 7));
    s.apply(entry('b', 'power-on', 'done', 8));
    expect(s.of('b')).toMatchObject({ state: 'awake', awakeSinceMs: 8 });
    expect(s.of('a').state).toBe('awake');
    expect(s.notAwake().size).toBe(0);
  });
});

describe('power transitions from what the hosts answer', () => {
  const cfg = config({ powerOffTimeoutSeconds: 100, wakeTimeoutSeconds: 200 });
  it('a host being powered down that stopped answering is done; one that still answers after the timeout failed', () => {
    const states = new PowerStates([entry('b', 'power-off', 'requested', NOW - 30_000), entry('c', 'power-off', 'requested', NOW - 101_000)]);
    const s = state([host('a'), standbyHost('b'), host('c')], []);
    expect(powerTransitions(s, states, cfg, NOW)).toEqual([
      { host: 'b', action: 'power-off', event: 'done', seconds: 30 },
      {
        host: 'c',
        action: 'power-off',
        event: 'failed',
        seconds: 101,
        detail: 'still answers libvirt 101 s after the power-off action (power.powerOffTimeoutSeconds 100); awake again',
      },
    ]);
  });

  it('a woken host that answers is done; one still silent after wakeTimeoutSeconds failed; a standby host that answers was woken by something else', () => {
    const states = new PowerStates([
      entry('b', 'power-on', 'requested', NOW - 42_500),
      entry('c', 'power-off', 'done', NOW - 900_000),
      entry('c', 'power-on', 'requested', NOW - 201_000),
      entry('d', 'power-off', 'done', NOW - 900_000),
    ]);
    const s = state([host('a'), host('b'), standbyHost('c'), host('d')], []);
    const t = powerTransitions(s, states, cfg, NOW);
    expect(t.map((x) => [x.host, x.action, x.event, x.seconds])).toEqual([
      ['b', 'power-on', 'done', 42.5],
      ['c', 'power-on', 'failed', 201],
      ['d', 'power-on', 'done', undefined],
    ]);
    expect(t[1].detail).toMatch(/does not answer libvirt 201 s after the power-on action \(power.wakeTimeoutSeconds 200\): connection refused; still standby/);
  });

  it('marks hosts not awake so that they are never targets, with a down reason that says it is on purpose', async () => {
    const states = new PowerStates([entry('b', 'power-off', 'done', NOW)]);
    const marked = markPowerStates(state([host('a'), standbyHost('b')], []), states);
    expect(marked.hosts[1]).toMatchObject({ power: 'standby', downReason: `standby since ${new Date(NOW).toISOString()} (power action; not an alarm)` });
    // A host still answering while being powered down is refused by the core filter not-in-standby.
    const off = markPowerStates(state([host('a'), host('c')], [vm('a1', 'a', 1, { tags: [] })]), new PowerStates([entry('c', 'power-off', 'requested', NOW)]));
    const cfg2 = config();
    const p = await plan(
      { ...off, hosts: off.hosts.map((h) => (h.name === 'a' ? { ...h, maintenance: true } : h)) },
      { config: cfg2.policy, policies: defaultPolicies(cfg2.policy) },
    );
    expect(p.moves).toEqual([]);
    expect(p.skipped.map((s) => s.reason).join('\n')).toMatch(/c is being powered down/);
  });
});

describe('choosing hosts to power down', () => {
  const empty = (s: ClusterState) => ({ basedOnObservedAtMs: s.observedAtMs, moves: [], skipped: [], imbalanceBefore: 0, imbalanceAfter: 0, policyErrors: [] });

  it('powers down one empty host a tick, the smallest first, never one that holds a VM or is part of a move, and keeps minAwakeHosts', () => {
    const s = state([host('a'), host('b', { cpuCount: 8 }), host('c'), host('d')], [vm('a1', 'a', 0.5), vm('d1', 'd', 0, { state: 'shutoff' })], {
      inFlight: [{ vmUuid: 'x', vmName: 'x', from: 'a', to: 'c', startedAtMs: NOW }],
    });
    // c is a migration's target; d holds only a shut-off definition; b is bigger than d.
    expect(choosePowerOffs(s, empty(s), new PowerStates(), config(), NOW)).toEqual([
      { host: 'd', action: 'power-off', reason: 'consolidate: d holds no VM and no move involves it; 3 host(s) stay awake (power.minAwakeHosts 1)' },
    ]);
    expect(choosePowerOffs(s, empty(s), new PowerStates(), config({ minAwakeHosts: 3 }), NOW)).toEqual([expect.objectContaining({ host: 'd' })]);
    expect(choosePowerOffs(s, empty(s), new PowerStates(), config({ minAwakeHosts: 3 }), NOW)).toHaveLength(1);
    const three = state([host('a'), host('b'), host('d')], [vm('a1', 'a', 0.5)]);
    expect(choosePowerOffs(three, empty(three), new PowerStates(), config({ minAwakeHosts: 3 }), NOW)).toEqual([]);
    expect(choosePowerOffs(s, empty(s), new PowerStates(), config({ action: 'none', powerOffCommand: undefined, powerOnCommand: undefined }), NOW)).toEqual([]);
  });

  it('anti-flapping: a host woken less than minAwakeSeconds ago is not powered down, and plan says why', () => {
    const s = state([host('a'), host('b')], [vm('a1', 'a', 0.5)]);
    const states = new PowerStates([entry('b', 'power-off', 'done', NOW - 2_000_000), entry('b', 'power-on', 'done', NOW - 1_000_000)]);
    expect(choosePowerOffs(s, empty(s), states, config({ minAwakeSeconds: 1800 }), NOW)).toEqual([]);
    expect(powerOffHolds(s, states, config({ minAwakeSeconds: 1800 }), NOW)).toEqual([
      { host: 'b', reason: 'empty, but woken 1000 s ago; not powered down before power.minAwakeSeconds (1800 s)' },
    ]);
    expect(choosePowerOffs(s, empty(s), states, config({ minAwakeSeconds: 900 }), NOW).map((d) => d.host)).toEqual(['b']);
  });

  it('node-suspend: a host whose capabilities do not list the target is held with the reason, not chosen (plan shows it)', () => {
    const suspend = config({ action: 'node-suspend', powerOffCommand: undefined, suspend: { target: 'mem' } });
    const s = state([host('a'), host('b', { suspendTargets: ['disk'] }), host('c', { suspendTargets: [] })], [vm('a1', 'a', 0.5)]);
    expect(choosePowerOffs(s, empty(s), new PowerStates(), suspend, NOW)).toEqual([]);
    expect(powerOffHolds(s, new PowerStates(), suspend, NOW)).toEqual([
      {
        host: 'b',
        reason:
          "empty, but its capabilities' <power_management> lists suspend_disk, not suspend_mem; set power.suspend.target to one it lists, or use power.action: command",
      },
      {
        host: 'c',
        reason:
          "empty, but its capabilities' <power_management> lists nothing, not suspend_mem; set power.suspend.target to one it lists, or use power.action: command",
      },
    ]);
    // Listing it, or unknown (not read yet): chosen as before.
    const ok = state([host('a'), host('b', { suspendTargets: ['mem', 'disk'] })], [vm('a1', 'a', 0.5)]);
    expect(choosePowerOffs(ok, empty(ok), new PowerStates(), suspend, NOW).map((d) => d.host)).toEqual(['b']);
    // action command does not look at them.
    expect(choosePowerOffs(s, empty(s), new PowerStates(), config(), NOW).map((d) => d.host)).toEqual(['b']);
  });

  it('anti-flapping: a host whose power-off failed is not tried again within minAwakeSeconds', () => {
    const s = state([host('a'), host('b')], [vm('a1', 'a', 0.5)]);
    const states = new PowerStates([entry('b', 'power-off', 'requested', NOW - 61_000), entry('b', 'power-off', 'failed', NOW - 60_000)]);
    expect(states.of('b').state).toBe('awake');
    expect(choosePowerOffs(s, empty(s), states, config({ minAwakeSeconds: 1800 }), NOW)).toEqual([]);
    expect(powerOffHolds(s, states, config({ minAwakeSeconds: 1800 }), NOW)).toEqual([
      { host: 'b', reason: 'empty, but a power-off of it failed 60 s ago; not tried again before power.minAwakeSeconds (1800 s)' },
    ]);
    expect(choosePowerOffs(s, empty(s), states, config({ minAwakeSeconds: 59 }), NOW).map((d) => d.host)).toEqual(['b']);
  });
});

describe('choosing a host to wake', () => {
  // a: 4 VMs at 90 % of a vCPU = 90 % of its 4 CPUs (over cpuHighPercent 80); c at 67.5 % cannot
  // take 22.5 points under the consolidation target 70 %; b is in standby.
  const hot = () =>
    state(
      [host('a'), standbyHost('b'), host('c')],
      ['1', '2', '3', '4'].map((i) => vm(`a${i}`, 'a', 0.9)).concat(['1', '2', '3'].map((i) => vm(`c${i}`, 'c', 0.9))),
    );
  const states = (standbyForMs: number) =>
    new PowerStates([entry('b', 'power-off', 'done', NOW - standbyForMs, { capacity: { cpuCount: 4, memoryTotalBytes: 16 * 2 ** 30 } })]);

  async function wake(cfg: Config, s: ClusterState, st: PowerStates) {
    const marked = markPowerStates(s, st);
    const options = { config: cfg.policy, policies: defaultPolicies(cfg.policy) };
    const tickPlan = await plan(marked, options);
    return { tickPlan, choice: await chooseWake(marked, tickPlan, st, cfg, options, NOW) };
  }

  it('wakes the standby host when a hot host has no awake target, with the move it enables as the reason', async () => {
    const { tickPlan, choice } = await wake(config(), hot(), states(3_600_000));
    expect(tickPlan.moves).toEqual([]);
    expect(choice.wake).toMatchObject({ host: 'b', action: 'power-on', mustMove: false });
    expect(choice.wake!.reason).toMatch(/^a\d on a has no target among awake hosts; b can take it \(balance: /);
  });

  it('does not wake a host when an awake host has room', async () => {
    const s = state([host('a'), standbyHost('b'), host('c')], ['1', '2', '3', '4'].map((i) => vm(`a${i}`, 'a', 0.9)).concat([vm('c1', 'c', 0.4)]));
    const { tickPlan, choice } = await wake(config(), s, states(3_600_000));
    expect(tickPlan.moves.map((m) => m.to)).toContain('c');
    expect(choice).toEqual({});
  });

  it('anti-flapping: holds a wake within minStandbySeconds, unless a must-move needs the host', async () => {
    const { choice } = await wake(config({ minStandbySeconds: 600 }), hot(), states(60_000));
    expect(choice.wake).toBeUndefined();
    expect(choice.held?.host).toBe('b');
    expect(choice.held?.reason).toMatch(/held: standby for 60 s, woken after power.minStandbySeconds \(600 s\) unless a must-move needs it$/);
    // c in maintenance: its VM must leave, a lacks the memory (12 of 16 GiB used, c1 has 8): the must-move wakes b at once.
    const big = { memoryBytes: 4 * 2 ** 30, maxMemoryBytes: 4 * 2 ** 30 };
    const s = state(
      [host('a'), standbyHost('b'), host('c', { maintenance: true })],
      [
        vm('a1', 'a', 0.1, big),
        vm('a2', 'a', 0.1, big),
        vm('a3', 'a', 0.1, big),
        vm('c1', 'c', 0.2, { memoryBytes: 8 * 2 ** 30, maxMemoryBytes: 8 * 2 ** 30 }),
      ],
    );
    const drained = await wake(config({ minStandbySeconds: 600 }), s, states(60_000));
    expect(drained.choice.wake).toMatchObject({ host: 'b', mustMove: true });
    expect(drained.choice.wake!.reason).toMatch(/^c1 on c has no target among awake hosts \(must-move\); b can take it/);
  });

  it('with node-suspend and no wake command, says the host wakes only by its alarm', async () => {
    const cfg = config({ action: 'node-suspend', powerOffCommand: undefined, powerOnCommand: undefined, suspend: { wakeByAlarmOnly: true } });
    const { choice } = await wake(cfg, hot(), states(3_600_000));
    expect(choice.wake).toBeUndefined();
    expect(choice.held?.reason).toMatch(/not woken: with node-suspend and no power.powerOnCommand it wakes only by its alarm$/);
  });

  it('wakes nothing while another host is still waking', async () => {
    const st = states(3_600_000);
    st.apply(entry('d', 'power-on', 'requested', NOW - 1000));
    const s = hot();
    const { choice } = await wake(config(), { ...s, hosts: [...s.hosts, standbyHost('d')] }, st);
    expect(choice).toEqual({});
  });
});
