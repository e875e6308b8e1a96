/**
 * Records real libvirt replies for the unit tests' fake daemon (test/unit/libvirt/recorded-daemon.ts).
 *
 *   VB_LAB_DIR=/var/tmp/vb-lab-N VB_LAB_ADDRESS_PREFIX=127.0.N. npx tsx scripts/record-libvirt-replies.ts [--keep] [--observe-only]
 *
 * Brings up a two-host lab (root; lab/), starts one small guest on lab1, and puts a recording
 * proxy in front of each host's libvirtd. Through the proxies it runs what the unit tests replay:
 *  - lab1-observe: the client's procedures one by one, then two collections of the collector;
 *  - migrate-lab1 / migrate-lab2: one pre-copy move lab1 -> lab2 by the executor (runSingleMove).
 * Each recording also keeps virsh's view of the same daemon (the tests' expected values) and, for
 * the move, the executor's live result. Writes test/unit/libvirt/recorded/*.json; the lab is taken
 * down afterwards unless --keep. --observe-only records lab1-observe alone (the collector changed, the move did not).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { promisify } from 'node:util';
import { Lab } from '../lab/lab.js';
import { collectOnce } from '../src/cluster/collector.js';
import { parseConfig } from '../src/config/index.js';
import { runSingleMove } from '../src/executor/index.js';
import { DomainStatsTypes, GetAllDomainStatsFlags, JobStatsFlags, LibvirtConnection } from '../src/libvirt/index.js';
import { silentLogger } from '../src/log/logger.js';
import { MessageType, PacketDecoder, REMOTE_PROGRAM } from '../src/libvirt/protocol.js';
import type { Recording, RecordedExchange } from '../test/unit/libvirt/recorded-daemon.js';

const execFileAsync = promisify(execFile);
const OUT = new URL('../test/unit/libvirt/recorded/', import.meta.url);

/**
 * A TCP proxy to one libvirtd that records every remote-program call with its reply. It listens on
 * the daemon's own address (another port), so a migration URI derived from the proxy's URI still
 * sends the migration data straight to the daemon's host.
 */
async function recordingProxy(daemonAddress: string): Promise<{ uri: string; exchanges: RecordedExchange[]; close(): Promise<void> }> {
  const exchanges: RecordedExchange[] = [];
  let connections = 0;
  const server: Server = createServer((client) => {
    const connection = connections++;
    const calls = new Map<number, { procedure: number; args: string; atMs: number }>();
    // Events (MESSAGE packets) since the last reply on this connection: replayed before the next one.
    let events: { procedure: number; payload: string }[] = [];
    const daemon = createConnection({ host: daemonAddress, port: 16509 });
    const fromClient = new PacketDecoder();
    const fromDaemon = new PacketDecoder();
    client.on('data', (chunk) => {
      for (const { header, payload } of fromClient.push(chunk)) {
        if (header.program === REMOTE_PROGRAM && header.type === MessageType.CALL)
          calls.set(header.serial, { procedure: header.procedure, args: payload.toString('base64'), atMs: performance.now() });
      }
      daemon.write(chunk);
    });
    daemon.on('data', (chunk) => {
      for (const { header, payload } of fromDaemon.push(chunk)) {
        if (header.program === REMOTE_PROGRAM && header.type === MessageType.MESSAGE)
          events.push({ procedure: header.procedure, payload: payload.toString('base64') });
        const call = header.program === REMOTE_PROGRAM && header.type === MessageType.REPLY ? calls.get(header.serial) : undefined;
        if (!call) continue;
        calls.delete(header.serial);
        exchanges.push({
          procedure: call.procedure,
          connection,
          args: call.args,
          status: header.status,
          reply: payload.toString('base64'),
          replyAfterMs: Math.round(performance.now() - call.atMs),
          ...(events.length ? { eventsBefore: events } : {}),
        });
        events = [];
      }
      client.write(chunk);
    });
    client.on('close', () => daemon.destroy());
    daemon.on('close', () => client.destroy());
    client.on('error', () => daemon.destroy());
    daemon.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, daemonAddress, resolve));
  const { port } = server.address() as AddressInfo;
  return { uri: `qemu+tcp://${daemonAddress}:${port}/system`, exchanges, close: () => new Promise((r) => server.close(() => r())) };
}

async function virsh(uri: string, args: string[]): Promise<string> {
  return (await execFileAsync('virsh', ['-c', uri, ...args], { timeout: 60_000 })).stdout.trim();
}

function save(name: string, recording: Recording): void {
  writeFileSync(new URL(`${name}.json`, OUT), JSON.stringify(recording, null, 1) + '\n');
  process.stdout.write(`recorded ${recording.exchanges.length} exchanges in ${name}.json\n`);
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const lab = new Lab();
  await lab.up({ hosts: 2, log: (m) => process.stdout.write(`lab: ${m}\n`) });
  const [lab1, lab2] = [lab.host('lab1'), lab.host('lab2')];
  try {
    await lab.destroyVm('rec1').catch(() => {});
    await lab.createVm({ name: 'rec1', host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 20, dirtyMiBps: 1, workloadMiB: 16 });
    const versionText = await virsh(lab1.uri, ['version', '--daemon']);
    const version = `libvirt ${/Running against daemon: ([\d.]+)/.exec(versionText)?.[1]}, ${/Running hypervisor: (.+)/.exec(versionText)?.[1]}`;

    // lab1-observe: the client's procedures, then what the collector asks in two ticks.
    const observe = await recordingProxy(lab1.address);
    const conn = await LibvirtConnection.open(observe.uri, { keepaliveIntervalSeconds: 0 });
    await conn.connectGetHostname();
    await conn.nodeGetInfo();
    await conn.connectListAllDomains();
    const dom = await conn.domainLookupByName('rec1');
    await conn.domainLookupByUuid(dom.uuid);
    await conn.domainGetInfo(dom);
    await conn.domainGetState(dom);
    await conn.connectGetAllDomainStats(
      DomainStatsTypes.STATE | DomainStatsTypes.CPU_TOTAL | DomainStatsTypes.BALLOON | DomainStatsTypes.VCPU,
      GetAllDomainStatsFlags.NOWAIT,
    );
    await conn.domainGetJobStats(dom, JobStatsFlags.COMPLETED).catch(() => {});
    await conn.domainMigrateGetMaxDowntime(dom);
    await conn.close();
    const config = parseConfig({ hosts: [{ name: 'lab1', uri: observe.uri }], stateDir: '/tmp/vb-record' });
    const collected = await collectOnce(config, { logger: silentLogger(), sampleIntervalMs: 1000 });
    await collected.close();
    await observe.close();
    save('lab1-observe', {
      description: `A lab host with one running guest (rec1): the client's procedures, then two collections. ${version}.`,
      recordedAt: new Date().toISOString(),
      exchanges: observe.exchanges,
      virsh: {
        hostname: await virsh(lab1.uri, ['hostname']),
        nodeinfo: await virsh(lab1.uri, ['nodeinfo']),
        list: await virsh(lab1.uri, ['list', '--all', '--name']),
        dominfo: await virsh(lab1.uri, ['dominfo', 'rec1']),
        domuuid: await virsh(lab1.uri, ['domuuid', 'rec1']),
        'migrate-getmaxdowntime': await virsh(lab1.uri, ['migrate-getmaxdowntime', 'rec1']),
      },
    });

    if (process.argv.includes('--observe-only')) return;
    // migrate-lab1 / migrate-lab2: one pre-copy move by the executor.
    const source = await recordingProxy(lab1.address);
    const target = await recordingProxy(lab2.address);
    const result = await runSingleMove(
      { vmName: 'rec1', from: 'lab1', to: 'lab2', technique: 'precopy' },
      { fromUri: source.uri, toUri: target.uri, bandwidthMiBps: 0, deadlineSeconds: 120 },
    );
    await source.close();
    await target.close();
    process.stdout.write(`move: ${JSON.stringify(result)}\n`);
    if (!result.ok) throw new Error(`the recorded move did not complete: ${result.error}`);
    const after = { 'dominfo-on-target': await virsh(lab2.uri, ['dominfo', 'rec1']), result: JSON.stringify(result) };
    const description = `One pre-copy move of rec1 (128 MiB) lab1 -> lab2 by runSingleMove. ${version}.`;
    save('migrate-lab1', { description: `${description} The source daemon.`, recordedAt: new Date().toISOString(), exchanges: source.exchanges, virsh: after });
    save('migrate-lab2', { description: `${description} The target daemon.`, recordedAt: new Date().toISOString(), exchanges: target.exchanges, virsh: after });
  } finally {
    await lab.destroyVm('rec1').catch(() => {});
    if (!keep) await lab.down();
  }
}

main().catch((error) => {
  process.stderr.write(`record-libvirt-replies: ${(error as Error).stack}\n`);
  process.exit(1);
});
