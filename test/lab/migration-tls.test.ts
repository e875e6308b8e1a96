/**
 * Migration TLS and the migration network, proven on the wire: each lab host gets a second
 * loopback address as its migration network (hosts[].migrationAddress) and lab1/lab2 a throwaway
 * PKI in their qemu.conf migrate_tls_x509_cert_dir (lab3 none). A guest holds a random marker in
 * its memory; tcpdump captures the lab prefix during each move. In plaintext the marker crosses
 * the wire in the stream, under TLS it does not; the stream goes to the target's migration address
 * and never to a control address; `required` refuses lab3 with the VM untouched; the guest's
 * memory check stays OK after each move.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { runMigrationWithTls, type MigrationResult, type MigrationTlsMode } from '../../src/executor/index.js';
import { LibvirtConnection } from '../../src/libvirt/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { countOccurrences, startCapture, type TcpFlow } from '../../lab/capture.js';
import { migrationPkiDir } from '../../lab/hosts.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { labMove } from '../../lab/moves.js';
import { addressPrefix, migrationHostAddress } from '../../lab/paths.js';
import { makeMigrationPki } from '../../lab/pki.js';
import { virsh } from '../../lab/run.js';

const VM = 'tls-marker';
// '&' is escaped in the domain XML libvirt sends over its control connection: as in memory, only the stream has it.
const marker = `VBMARK&${randomBytes(12).toString('hex')}`;
let lab: Lab;
let config: Config;
let uuid: string;
const prefix = addressPrefix();
const migrationAddress = (host: string) => migrationHostAddress(prefix, Number(host.slice(3)) - 1);
const controlAddress = (host: string) => lab.hosts.find((h) => h.name === host)!.address;

interface Wire {
  result: MigrationResult;
  flows: TcpFlow[];
  droppedByKernel: number;
  /** Bytes on flows with the target's migration address at one end (the stream, both directions). */
  streamBytes: number;
  /** Bytes on flows with a control address at one end and not port 16509 (libvirt RPC) at either. */
  otherBytesOnControlAddresses: number;
  markerInStream: number;
  markerElsewhere: number;
}

/** One move through the executor's TLS wrapper, with tcpdump on the lab's prefix around it. */
async function captureMove(from: string, to: string, tlsMode: MigrationTlsMode): Promise<Wire> {
  const file = join(inject('labDir'), `migration-tls-${from}-${to}-${tlsMode}.pcap`);
  const capture = await startCapture(file, `net ${prefix}0/24 and tcp`);
  const [source, target] = [
    await LibvirtConnection.open(lab.hosts.find((h) => h.name === from)!.uri),
    await LibvirtConnection.open(lab.hosts.find((h) => h.name === to)!.uri),
  ];
  let result: MigrationResult;
  try {
    result = await runMigrationWithTls(labMove({ name: VM, uuid }, from, to, 'precopy'), {
      source,
      target,
      targetUri: lab.hosts.find((h) => h.name === to)!.uri,
      targetMigrationAddress: migrationAddress(to),
      tlsMode,
      config: { ...config.migration, tls: tlsMode, bandwidthMiBps: 0 },
      downtimeBudgetMs: 300,
      allowPostcopySwitch: false,
      logger: silentLogger(),
    });
  } finally {
    await source.close().catch(() => {});
    await target.close().catch(() => {});
  }
  const { flows, droppedByKernel } = await capture.stop();
  await rm(file, { force: true });
  const mig = migrationAddress(to);
  const controls = lab.hosts.map((h) => h.address);
  const stream = flows.filter((f) => f.src === mig || f.dst === mig);
  const other = flows.filter((f) => !stream.includes(f));
  const wire: Wire = {
    result,
    flows,
    droppedByKernel,
    streamBytes: stream.reduce((s, f) => s + f.payload.length, 0),
    otherBytesOnControlAddresses: other
      .filter((f) => (controls.includes(f.src) || controls.includes(f.dst)) && f.srcPort !== 16509 && f.dstPort !== 16509)
      .reduce((s, f) => s + f.payload.length, 0),
    markerInStream: stream.reduce((s, f) => s + countOccurrences(f.payload, marker), 0),
    markerElsewhere: other.reduce((s, f) => s + countOccurrences(f.payload, marker), 0),
  };
  // The figures the issue's closing note quotes.
  console.log(
    `[migration-tls] ${from}->${to} tls=${tlsMode}: ${result.outcome}${result.error ? ` (${result.error})` : ''}; stream ${(wire.streamBytes / 2 ** 20).toFixed(1)} MiB to ${mig}, marker ${wire.markerInStream}x in it, ${wire.markerElsewhere}x elsewhere; ${(wire.otherBytesOnControlAddresses / 2 ** 20).toFixed(2)} MiB off-RPC on control addresses; libvirt ${((result.bytes ?? 0) / 2 ** 20).toFixed(1)} MiB in ${(result.totalMs / 1000).toFixed(1)} s; ${droppedByKernel} dropped`,
  );
  return wire;
}

describe('migration TLS and migration network on the wire', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    config = await loadConfig(inject('labConfigPath'));
    for (const host of lab.hosts.slice(0, 3)) {
      const qemuConf = await readFile(join(host.dir, 'etc', 'qemu.conf'), 'utf8');
      if (!qemuConf.includes(`migrate_tls_x509_cert_dir = "${migrationPkiDir(host)}"`)) {
        throw new Error(
          `lab host ${host.name} was made before migration TLS (no migrate_tls_x509_cert_dir in its qemu.conf): run \`npm run lab -- down\` and remove ${inject('labDir')}/hosts`,
        );
      }
    }
    for (const host of lab.hosts)
      for (const f of await readdir(migrationPkiDir(host)).catch(() => [])) await rm(join(migrationPkiDir(host), f), { force: true });
    await makeMigrationPki(
      join(inject('labDir'), 'migration-pki'),
      ['lab1', 'lab2'].map((name) => ({
        name,
        certDir: migrationPkiDir(lab.hosts.find((h) => h.name === name)!),
        addresses: [controlAddress(name), migrationAddress(name)],
      })),
    );
    await lab.destroyVm(VM);
    await lab.createVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 5, dirtyMiBps: 1, workloadMiB: 16, marker });
    uuid = (await virsh(lab.hosts[0]!.uri, ['domuuid', VM])).stdout.trim();
  }, 240_000);
  afterAll(async () => {
    await lab?.destroyVm(VM).catch(() => {});
    // Back to no certificates: other tests' moves stay as they were.
    for (const host of lab?.hosts ?? [])
      for (const f of await readdir(migrationPkiDir(host)).catch(() => [])) await rm(join(migrationPkiDir(host), f), { force: true });
  });

  it('plaintext: the stream goes to the target migration address and carries the marker', async () => {
    const before = await lab.heartbeat(VM);
    const wire = await captureMove('lab1', 'lab2', 'off');
    expect(wire.result).toMatchObject({ outcome: 'completed', tls: false });
    expect(wire.streamBytes).toBeGreaterThan(8 * 2 ** 20);
    expect(wire.streamBytes).toBeGreaterThan(0.9 * (wire.result.bytes ?? 0));
    expect(wire.markerInStream).toBeGreaterThan(0);
    expect(wire.otherBytesOnControlAddresses).toBeLessThan(2 ** 20);
    expect(await lab.whereIs(VM)).toBe('lab2');
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 60_000 })).status).toBe('OK');
  }, 240_000);

  it('required: the same stream under TLS never shows the marker', async () => {
    const before = await lab.heartbeat(VM);
    const wire = await captureMove('lab2', 'lab1', 'required');
    expect(wire.result).toMatchObject({ outcome: 'completed', tls: true });
    expect(wire.streamBytes).toBeGreaterThan(8 * 2 ** 20);
    expect(wire.streamBytes).toBeGreaterThan(0.9 * (wire.result.bytes ?? 0));
    expect(wire.markerInStream).toBe(0);
    expect(wire.markerElsewhere).toBe(0);
    expect(wire.otherBytesOnControlAddresses).toBeLessThan(2 ** 20);
    expect(await lab.whereIs(VM)).toBe('lab1');
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 60_000 })).status).toBe('OK');
  }, 240_000);

  it('required refuses lab3, which has no migration certificates, naming it; the VM keeps running on lab1', async () => {
    const before = await lab.heartbeat(VM);
    const wire = await captureMove('lab1', 'lab3', 'required');
    expect(wire.result.outcome).toBe('failed');
    expect(wire.result.error).toMatch(
      new RegExp(
        `^migration of VM ${VM} from lab1 to lab3 with TLS refused before any memory was sent: lab3 has no \\S+/lab3/migration-pki/ca-cert\\.pem\\. Fix: put ca-cert\\.pem`,
      ),
    );
    expect(wire.markerInStream + wire.markerElsewhere).toBe(0);
    expect(wire.streamBytes).toBeLessThan(2 ** 20);
    expect(await lab.whereIs(VM)).toBe('lab1');
    expect((await virsh(lab.hosts[2]!.uri, ['list', '--all', '--name'])).stdout).not.toContain(VM);
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 60_000 })).status).toBe('OK');
  }, 240_000);

  it('preferred moves to lab3 in plaintext after its refusal', async () => {
    const before = await lab.heartbeat(VM);
    const wire = await captureMove('lab1', 'lab3', 'preferred');
    expect(wire.result).toMatchObject({ outcome: 'completed', tls: false });
    expect(wire.markerInStream).toBeGreaterThan(0);
    expect(await lab.whereIs(VM)).toBe('lab3');
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before.seq + 2, timeoutMs: 60_000 })).status).toBe('OK');
  }, 240_000);
});
