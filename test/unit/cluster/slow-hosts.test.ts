/**
 * Issue 27: one host must never hold the others.
 * - R7: a host whose libvirt driver hangs (the connection and its keepalive still answer) is left
 *   out of the tick after the per-host bound, reported as slow, and not asked again while its
 *   earlier reads are still out; the same bound holds the dirty-rate measurement.
 * - R3: a host whose connection drops during the first capabilities call is down (not
 *   "connected") and reconnected with backoff.
 * - A host that answers its handshake one byte at a time does not hold start-up.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Collector } from '../../../src/cluster/collector.js';
import { HostConnections } from '../../../src/cluster/connections.js';
import { parseConfig } from '../../../src/config/index.js';
import { DomainState, type LibvirtConnection } from '../../../src/libvirt/index.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { createLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import { XdrWriter } from '../../../src/libvirt/xdr.js';
import { startFakeDaemon, type FakeDaemon } from '../libvirt/fake-daemon.js';

const GiB = 2 ** 30;
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const never = () => new Promise<never>(() => {});

/** The promise's outcome, or 'still pending' after ms (a hang is a test failure, not a test timeout). */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: Error } | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'still pending'>((resolve) => (timer = setTimeout(() => resolve('still pending'), ms)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: Error) => ({ error }),
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connection answering as libvirtd does, with one VM; `hang` names calls that never return. */
function fakeHost(n: number, hang: Set<string>, calls: string[] = []) {
  const answer =
    <T>(name: string, value: () => T) =>
    async (): Promise<T> => {
      calls.push(name);
      return hang.has(name) ? never() : value();
    };
  // An event emitter like LibvirtConnection: the collector's job watch subscribes to domain events.
  return Object.assign(new EventEmitter(), {
    subscribeDomainEvents: answer('subscribeDomainEvents', () => undefined),
    closed: false,
    versions: { libvirtVersion: 11_003_000, hypervisorVersion: 10_000_000 },
    nodeGetInfo: answer('nodeGetInfo', () => ({
      model: 'x86_64',
      memoryKiB: BigInt((64 * GiB) / 1024),
      cpus: 8,
      mhz: 2000,
      nodes: 1,
      sockets: 1,
      cores: 8,
      threads: 1,
    })),
    connectGetCapabilities: answer(
      'connectGetCapabilities',
      () => `<capabilities><host><uuid>${uuid(900 + n)}</uuid><cpu><pages unit='KiB' size='4'/></cpu></host></capabilities>`,
    ),
    nodeGetCpuStats: answer('nodeGetCpuStats', () => ({ kernel: 0n, user: 0n, idle: 100n, iowait: 0n })),
    nodeGetMemoryStats: answer('nodeGetMemoryStats', () => ({ total: BigInt((64 * GiB) / 1024), free: BigInt((32 * GiB) / 1024), buffers: 0n, cached: 0n })),
    nodeGetFreePages: answer('nodeGetFreePages', () => [0n]),
    connectGetAllDomainStats: async (stats = 0) => {
      calls.push('connectGetAllDomainStats');
      if (hang.has('connectGetAllDomainStats')) return never();
      return [
        {
          domain: { name: `vm${n}`, uuid: uuid(n), id: 1 },
          params:
            stats === 0
              ? {
                  'state.state': DomainState.RUNNING,
                  'state.reason': 1,
                  'balloon.current': BigInt(GiB / 1024),
                  'balloon.maximum': BigInt(GiB / 1024),
                  'vcpu.current': 1,
                  'cpu.time': 0n,
                }
              : { 'dirtyrate.calc_status': 2, 'dirtyrate.megabytes_per_second': 10n * BigInt(n) },
        },
      ];
    },
    domainGetXmlDesc: answer('domainGetXmlDesc', () => '<domain type="kvm"><devices></devices></domain>'),
    domainGetMetadata: async () => {
      throw new Error('no metadata');
    },
    domainGetJobInfo: answer('domainGetJobInfo', () => ({ type: 0 })),
    domainLookupByUuid: async (u: string) => {
      calls.push('domainLookupByUuid');
      return hang.has('domainLookupByUuid') ? never() : { name: `vm${n}`, uuid: u, id: 1 };
    },
    domainStartDirtyRateCalc: answer('domainStartDirtyRateCalc', () => undefined),
  }) as unknown as LibvirtConnection;
}

function collector(hosts: Record<string, LibvirtConnection>, hostReadBoundMs?: number) {
  const config = parseConfig({
    hosts: Object.keys(hosts).map((name, i) => ({ name, uri: `qemu+tcp://10.0.0.${i + 1}/system` })),
    libvirt: { callTimeoutSeconds: 60 },
  });
  const connections = {
    get: (name: string) => hosts[name],
    status: () => ({ up: true }),
    recordError: (_: string, e: unknown) => (e as Error).message,
  } as unknown as HostConnections;
  const metrics = createMetrics(undefined, { defaultMetrics: false });
  return { metrics, collector: new Collector(config, connections, { logger: createLogger({ level: 'silent' }), metrics, hostReadBoundMs }) };
}

describe('R7: a host whose libvirt driver hangs delays only itself', () => {
  it('the tick goes on without it after the per-host bound, reports it slow, and does not ask it again while it is still out', async () => {
    const hungCalls: string[] = [];
    const { collector: c, metrics } = collector({ ok: fakeHost(1, new Set()), hung: fakeHost(2, new Set(['connectGetAllDomainStats']), hungCalls) }, 300);
    const t0 = Date.now();
    const first = await settledWithin(c.collect(), 3000);
    expect(first).not.toBe('still pending');
    const state = (first as { value: Awaited<ReturnType<Collector['collect']>> }).value;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(state.hosts.find((h) => h.name === 'ok')?.up).toBe(true);
    expect(state.vms.map((v) => v.name)).toEqual(['vm1']);
    const hung = state.hosts.find((h) => h.name === 'hung');
    expect(hung?.up).toBe(false);
    expect(hung?.downReason).toMatch(/^slow: libvirt on hung did not answer within 0.3 s/);
    expect((await metrics.hostSlowTicksTotal.get()).values).toEqual([expect.objectContaining({ labels: { host: 'hung' }, value: 1 })]);
    const asked = hungCalls.length;
    const second = await settledWithin(c.collect(), 1000);
    expect(second).not.toBe('still pending');
    const again = (second as { value: Awaited<ReturnType<Collector['collect']>> }).value.hosts.find((h) => h.name === 'hung');
    expect(again?.downReason).toMatch(/has not answered an earlier tick's reads/);
    expect(hungCalls.length).toBe(asked);
  });

  it('by default the bound is at most 15 s even with libvirt.callTimeoutSeconds 60', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const { collector: c } = collector({ ok: fakeHost(1, new Set()), hung: fakeHost(2, new Set(['nodeGetInfo'])) });
      let done = false;
      const tick = c.collect().then((s) => {
        done = true;
        return s;
      });
      await vi.advanceTimersByTimeAsync(15_000);
      expect(done).toBe(true);
      expect((await tick).hosts.find((h) => h.name === 'hung')?.downReason).toMatch(/within 15 s/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('the dirty-rate measurement waits for a hung host no longer than the bound, and measures the others', async () => {
    const hang = new Set<string>();
    const { collector: c } = collector({ hung: fakeHost(2, hang), ok: fakeHost(1, new Set()) }, 300);
    await c.collect();
    hang.add('domainLookupByUuid');
    const measured = await settledWithin(c.measureDirtyRates([uuid(2), uuid(1)], 0), 3000);
    expect(measured).not.toBe('still pending');
    expect((measured as { value: Map<string, number> }).value).toEqual(new Map([[uuid(1), 10]]));
  });
});

describe('connections', () => {
  let daemons: FakeDaemon[] = [];
  let connections: HostConnections | undefined;
  afterEach(async () => {
    await connections?.close();
    connections = undefined;
    await Promise.all(daemons.map((d) => d.close()));
    daemons = [];
  });

  const capsXml = "<capabilities><host><uuid>4c4c4544-0000-1000-8000-00000000000a</uuid><cpu><pages unit='KiB' size='4'/></cpu></host></capabilities>";
  const okDaemon = () =>
    startFakeDaemon({ onCall: (call) => call.procedure === Proc.CONNECT_GET_CAPABILITIES && call.reply(new XdrWriter().string(capsXml).toBuffer()) });

  it('R3: a connection that drops during the first capabilities call is down, says so, and is reconnected with backoff', async () => {
    let capabilityCalls = 0;
    const daemon = await startFakeDaemon({
      onCall: (call) => {
        if (call.procedure !== Proc.CONNECT_GET_CAPABILITIES) return;
        // The first connection drops mid-call; later ones answer.
        if (capabilityCalls++ === 0) call.socket.destroy();
        else call.reply(new XdrWriter().string(capsXml).toBuffer());
      },
    });
    daemons.push(daemon);
    const logger = createLogger({ level: 'silent' });
    const lines: string[] = [];
    for (const level of ['info', 'warn', 'error'] as const)
      vi.spyOn(logger, level).mockImplementation(((obj: unknown, msg?: string) => void lines.push(`${level} ${msg ?? obj}`)) as never);
    const config = parseConfig({ hosts: [{ name: 'h', uri: daemon.uri }], libvirt: { reconnectInitialDelaySeconds: 0.1, reconnectMaxDelaySeconds: 1 } });
    connections = new HostConnections(config, { logger });
    await connections.start();
    const status = connections.status('h');
    expect(status.up).toBe(false);
    expect(status.downReason).toMatch(/connection lost during the first capabilities call/);
    expect(lines.filter((l) => l.includes('connected to libvirt host'))).toEqual([]);
    expect(lines.some((l) => l.startsWith('warn') && l.includes('unreachable'))).toBe(true);
    await vi.waitFor(() => expect(connections!.status('h')).toEqual({ up: true }), { timeout: 4000, interval: 50 });
    expect(capabilityCalls).toBe(2);
    expect(lines.filter((l) => l.includes('connected to libvirt host'))).toHaveLength(1);
  });

  it('a host that answers its handshake one byte at a time does not hold start-up; it is down ("still connecting") meanwhile', async () => {
    const slow = await startFakeDaemon({ dripMs: 100 });
    const fast = await okDaemon();
    daemons.push(slow, fast);
    const config = parseConfig({
      hosts: [
        { name: 'slow', uri: slow.uri },
        { name: 'fast', uri: fast.uri },
      ],
    });
    connections = new HostConnections(config, { logger: createLogger({ level: 'silent' }), startWaitMs: 500 });
    const t0 = Date.now();
    expect(await settledWithin(connections.start(), 3000)).not.toBe('still pending');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(connections.status('fast')).toEqual({ up: true });
    expect(connections.status('slow').up).toBe(false);
    expect(connections.status('slow').downReason).toMatch(/^still connecting: no complete answer to the handshake within 0.5 s/);
  });
});
