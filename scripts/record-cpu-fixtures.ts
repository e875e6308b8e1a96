/**
 * Records what the hard limits read about CPUs from a real libvirt (test/unit/cluster/recorded-cpu/),
 * through this project's own client, with virsh's view of the same daemon beside it:
 *
 *   VB_LAB_DIR=/var/tmp/vb-lab-N VB_LAB_ADDRESS_PREFIX=127.0.N. npx tsx scripts/record-cpu-fixtures.ts
 *
 * Needs a lab that is up (`npm run lab -- up`). Writes, for lab1:
 *  - capabilities.xml (virConnectGetCapabilities: `<topology><cells>`);
 *  - domcapabilities-kvm.xml, domcapabilities-qemu.xml (virConnectGetDomainCapabilities per virt type);
 *  - baseline-kvm.xml, baseline-qemu.xml (virConnectBaselineHypervisorCPU of the domain capabilities'
 *    host-model CPU with VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES) and virsh-baseline-qemu.xml
 *    (`virsh hypervisor-cpu-baseline --features` of the same, to check the client against);
 *  - baseline-nehalem-qemu.xml: a Nehalem guest CPU expanded the same way (an older model's features);
 *  - domain-live.xml: a running lab guest's live XML (libvirt's expanded guest CPU);
 *  - domain-pinned.xml: a defined (not started) domain with `<cputune>` vcpupin/emulatorpin and
 *    `<numatune>`, as libvirt writes it back (virsh dumpxml --inactive).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { labFromEnv } from '../lab/lab.js';
import { parseDomainCapabilitiesCpu } from '../src/cluster/guest-cpu.js';
import { ConnectBaselineCpuFlags, LibvirtConnection } from '../src/libvirt/index.js';

const execFileAsync = promisify(execFile);
const OUT = new URL('../test/unit/cluster/recorded-cpu/', import.meta.url);

async function virsh(uri: string, args: string[]): Promise<string> {
  return (await execFileAsync('virsh', ['-c', uri, ...args], { timeout: 60_000 })).stdout.trim();
}

function save(name: string, text: string): void {
  writeFileSync(new URL(name, OUT), `${text.trim()}\n`);
  process.stdout.write(`wrote ${name} (${text.length} chars)\n`);
}

async function main(): Promise<void> {
  const lab = await labFromEnv();
  const lab1 = lab.host('lab1');
  const conn = await LibvirtConnection.open(lab1.uri, { keepaliveIntervalSeconds: 0 });
  const scratch = mkdtempSync(join(tmpdir(), 'vb-cpu-'));
  try {
    save('capabilities.xml', await conn.connectGetCapabilities());
    for (const type of ['kvm', 'qemu']) {
      const caps = await conn.connectGetDomainCapabilities(type);
      save(`domcapabilities-${type}.xml`, caps);
      const hostModel = parseDomainCapabilitiesCpu(caps).hostModelCpuXml;
      if (!hostModel) throw new Error(`lab1's ${type} domain capabilities offer no host-model CPU`);
      save(`baseline-${type}.xml`, await conn.connectBaselineHypervisorCpu([hostModel], ConnectBaselineCpuFlags.EXPAND_FEATURES, type));
      if (type === 'qemu') {
        writeFileSync(join(scratch, 'domcaps.xml'), caps);
        save('virsh-baseline-qemu.xml', await virsh(lab1.uri, ['hypervisor-cpu-baseline', '--virttype', 'qemu', '--features', join(scratch, 'domcaps.xml')]));
      }
    }
    const nehalem = "<cpu mode='custom' match='exact'><model>Nehalem</model></cpu>";
    save('baseline-nehalem-qemu.xml', await conn.connectBaselineHypervisorCpu([nehalem], ConnectBaselineCpuFlags.EXPAND_FEATURES, 'qemu'));

    const running = (await virsh(lab1.uri, ['list', '--name'])).split('\n').filter(Boolean)[0];
    if (!running) throw new Error('no guest runs on lab1: start one (npm run lab -- create-vm rec1 --host lab1 --memory 128 --cpu 10 --dirty 1)');
    const live = await virsh(lab1.uri, ['dumpxml', running]);
    save('domain-live.xml', live.replace(/\/var\/tmp\/[^/]+\//g, '/var/tmp/vb-lab/'));

    // A definition pinned to host CPUs and NUMA nodes (defined only: a lab host has CPUs 0-1, one node).
    const pinned = live
      .replace(/<domain type='qemu' id='\d+'>/, "<domain type='qemu'>")
      .replace(/<name>[^<]*<\/name>/, '<name>pinned-xml</name>')
      .replace(/<uuid>[^<]*<\/uuid>\n/, '')
      .replace(
        /<vcpu placement='static'>\d+<\/vcpu>/,
        "<vcpu placement='static' cpuset='4-7'>2</vcpu>\n  <cputune>\n    <vcpupin vcpu='0' cpuset='4'/>\n    <vcpupin vcpu='1' cpuset='5-6,^6'/>\n    <emulatorpin cpuset='7'/>\n  </cputune>\n  <numatune>\n    <memory mode='strict' nodeset='1'/>\n  </numatune>",
      );
    writeFileSync(join(scratch, 'pinned.xml'), pinned);
    await virsh(lab1.uri, ['undefine', 'pinned-xml']).catch(() => '');
    await virsh(lab1.uri, ['define', join(scratch, 'pinned.xml')]);
    try {
      save('domain-pinned.xml', (await virsh(lab1.uri, ['dumpxml', '--inactive', 'pinned-xml'])).replace(/\/var\/tmp\/[^/]+\//g, '/var/tmp/vb-lab/'));
    } finally {
      await virsh(lab1.uri, ['undefine', 'pinned-xml']);
    }
    save('versions.txt', await virsh(lab1.uri, ['version', '--daemon']));
  } finally {
    await conn.close();
  }
}

main().catch((error) => {
  process.stderr.write(`record-cpu-fixtures: ${(error as Error).stack}\n`);
  process.exit(1);
});
