/**
 * Hard limits read from real libvirt (issue 24): a guest's CPU definition and vCPU pinning from its
 * domain XML, each host's CPU features from its own libvirt (domain capabilities and the expanded
 * host-model CPU), and a move to a host that lacks a feature the guest requires refused before
 * libvirt is asked: no migration job, no journal `started`, the VM still running on its source.
 *
 * The lab's hosts share one physical CPU under TCG, so lab2 is made to differ for this test
 * (lab/cpu-restrict.ts): its QEMU reports TCG's "max" CPU without la57, so lab2's libvirt offers
 * a host-model CPU without la57, while lab1's has it. The guest requires la57 (qemu64 + la57,
 * check='full', so libvirt verified at start that lab1's QEMU gives it). What this does not prove:
 * that libvirt would fail the move (it would not: QEMU still emulates la57 for a qemu64 guest on
 * lab2, and libvirt does not compare an incoming TCG guest's CPU with the host's); it proves the
 * features come from each host's own libvirt and the refusal happens before any libvirt call.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { collectOnce } from '../../src/cluster/collector.js';
import { loadConfig } from '../../src/config/index.js';
import { readJournal } from '../../src/history/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { plan } from '../../src/policy/engine.js';
import { policySchema } from '../../src/config/policy-schema.js';
import { restrictTcgCpu, unrestrictTcgCpu } from '../../lab/cpu-restrict.js';
import { type Lab, labFromEnv } from '../../lab/lab.js';
import { virsh } from '../../lab/run.js';

const execFileAsync = promisify(execFile);
const VM = 'hl-la57';
let lab: Lab;
let configFile: string;
let stateDir: string;

/** lab's own XML for VM with a qemu64 CPU that requires la57 and vCPU 0 pinned to host CPU 1. */
async function redefineWithCpu(host: { uri: string; dir: string }): Promise<void> {
  const xml = (await virsh(host.uri, ['dumpxml', '--inactive', VM])).stdout;
  const cpu =
    "<cpu mode='custom' match='exact' check='full'>\n    <model fallback='forbid'>qemu64</model>\n    <feature policy='require' name='la57'/>\n    <feature policy='require' name='hypervisor'/>\n    <feature policy='require' name='lahf_lm'/>\n  </cpu>";
  const changed = xml
    .replace(/<cpu[\s\S]*?<\/cpu>\n?/, '')
    .replace('</features>', `</features>\n  ${cpu}`)
    .replace(/(<vcpu[^>]*>\d+<\/vcpu>)/, "$1\n  <cputune>\n    <vcpupin vcpu='0' cpuset='1'/>\n  </cputune>");
  const file = join(host.dir, `${VM}-cpu.xml`);
  await writeFile(file, changed);
  await virsh(host.uri, ['define', file]);
}

describe('hard limits read from libvirt in the lab', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    stateDir = join(inject('labDir'), 'state-hard-limits-test');
    const text = await readFile(inject('labConfigPath'), 'utf8');
    configFile = join(inject('labDir'), 'hard-limits-test.yaml');
    await writeFile(configFile, text.replace(/^stateDir: .*$/m, `stateDir: ${stateDir}`));
    await restrictTcgCpu(lab.host('lab2'), ['la57']);
    await lab.destroyVm(VM).catch(() => {});
    await lab.defineVm({ name: VM, host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 10, dirtyMiBps: 1, workloadMiB: 16 });
    await redefineWithCpu(lab.host('lab1'));
    await virsh(lab.host('lab1').uri, ['start', VM]);
    await lab.waitForHeartbeat(VM, { afterSeq: 0, timeoutMs: 120_000 });
  }, 240_000);

  afterAll(async () => {
    await lab?.destroyVm(VM).catch(() => {});
    if (lab) await unrestrictTcgCpu(lab.host('lab2'));
  }, 120_000);

  it('reads the pinning and the required feature from the domain XML and each host CPU from its own libvirt, and refuses lab2 before asking libvirt', async () => {
    const config = await loadConfig(configFile);
    const { state, close } = await collectOnce(config, { logger: silentLogger(), sampleIntervalMs: 200 });
    await close();
    const vm = state.vms.find((v) => v.name === VM)!;
    expect(vm).toMatchObject({ host: 'lab1', domainType: 'qemu', cpuModel: 'qemu64', pinnedHostCpus: [1] });
    expect(vm.cpuRequiredFeatures).toContain('la57');
    const lab1 = state.hosts.find((h) => h.name === 'lab1')!;
    const lab2 = state.hosts.find((h) => h.name === 'lab2')!;
    expect(lab1.topology?.cells.flatMap((c) => c.cpuIds)).toContain(1);
    expect(lab1.cpuByDomainType?.qemu.features).toContain('la57');
    expect(lab2.cpuByDomainType?.qemu.features).not.toContain('la57');
    expect(lab2.cpuByDomainType?.qemu.features.length).toBeGreaterThan(50);

    // A drain of lab1 (maintenance) plans no move of the VM to lab2, saying why.
    const drained = {
      ...state,
      hosts: state.hosts.map((h) => (h.name === 'lab1' ? { ...h, maintenance: true } : h.name === 'lab3' ? { ...h, up: false } : h)),
    };
    const drain = await plan(drained, { config: policySchema.parse({}) });
    expect(drain.moves.filter((m) => m.vmName === VM)).toEqual([]);
    expect(drain.skipped.find((s) => s.vmName === VM)?.reason).toMatch(/lab2 \(EPYC\) lacks 1 of the 3 CPU features hl-la57's CPU model qemu64 needs: la57/);

    // The operator's move is refused before any migration call: exit 1, the reason, no job, no journal entry.
    const refusal = await execFileAsync('npx', ['tsx', 'src/cli/main.ts', 'migrate', VM, '--to', 'lab2', '--config', configFile], { timeout: 120_000 }).then(
      () => 'moved',
      (e) => String(e.stderr),
    );
    expect(refusal).toContain(
      "cannot move hl-la57 lab1 -> lab2: lab2 (EPYC) lacks 1 of the 3 CPU features hl-la57's CPU model qemu64 needs: la57 (a hard limit: choose another target)",
    );
    expect(await lab.whereIs(VM)).toBe('lab1');
    expect((await virsh(lab.host('lab1').uri, ['domjobinfo', VM])).stdout).toMatch(/Job type:\s+None/);
    expect((await virsh(lab.host('lab2').uri, ['list', '--all', '--name'])).stdout).not.toContain(VM);
    const journal = await readJournal(join(stateDir, 'journal.jsonl')).catch(() => []);
    expect(journal.filter((e) => e.type === 'started')).toEqual([]);
    const beat = await lab.heartbeat(VM);
    expect((await lab.waitForHeartbeat(VM, { afterSeq: beat.seq, timeoutMs: 30_000 })).status).toBe('OK');
  }, 180_000);
});
