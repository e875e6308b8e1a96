/**
 * The CPU hard limits (src/policy/hard-limits.ts) on what a real libvirt 11.3 / QEMU 10.0 lab host
 * said (test/unit/cluster/recorded-cpu/, scripts/record-cpu-fixtures.ts): its capabilities'
 * topology, its domain capabilities and expanded host-model CPU for KVM and for TCG (two genuinely
 * different CPUs on one machine: Icelake-Server as KVM exposes it, EPYC as TCG emulates it), a
 * running guest's live XML and a definition pinned to CPUs and a NUMA node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHostCapabilities } from '../../../src/cluster/capabilities.js';
import { parseCpuSet, parseExpandedCpu, parseGuestCpu, parsePlacement } from '../../../src/cluster/guest-cpu.js';
import { readHostGuestCpus } from '../../../src/cluster/host-cpu.js';
import type { HostObservation, VmObservation } from '../../../src/cluster/model.js';
import { cpuRefusal, topologyRefusal } from '../../../src/policy/hard-limits.js';
import { host, vm } from '../policy/fixtures.js';

const dir = join(import.meta.dirname, 'recorded-cpu');
const fixture = (name: string) => readFileSync(join(dir, name), 'utf8');

/** A VM observation with what the collector reads from this domain XML. */
function vmFromXml(name: string, xml: string, onHost: string): VmObservation {
  const cpu = parseGuestCpu(xml);
  return vm(name, onHost, 0.1, {
    cpuModel: cpu.model,
    cpuMode: cpu.mode,
    domainType: cpu.domainType,
    cpuRequiredFeatures: cpu.requiredFeatures,
    cpuDisabledFeatures: cpu.disabledFeatures,
    ...parsePlacement(xml),
  });
}

/** The recorded host as the collector sees it: per-type CPU views read through readHostGuestCpus. */
async function recordedHost(name: string): Promise<HostObservation> {
  const asked: string[] = [];
  const { byDomainType, failures } = await readHostGuestCpus({
    connectGetDomainCapabilities: async (type) => fixture(`domcapabilities-${type}.xml`),
    connectBaselineHypervisorCpu: async (cpus, flags, type) => {
      asked.push(`${type}:${flags}:${/<model[^>]*>([^<]+)</.exec(cpus[0])?.[1]}`);
      return fixture(`baseline-${type}.xml`);
    },
  });
  expect(failures).toEqual([]);
  // The host-model CPU of each type's domain capabilities, expanded (VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES = 1).
  expect(asked).toEqual(['kvm:1:Icelake-Server', 'qemu:1:EPYC']);
  const caps = parseHostCapabilities(fixture('capabilities.xml'));
  return host(name, {
    cpuCount: 2,
    cpuModel: byDomainType.kvm.model,
    cpuFeatures: byDomainType.kvm.features,
    cpuModelBlockers: byDomainType.kvm.modelBlockers,
    cpuByDomainType: byDomainType,
    topology: { cells: caps.cells },
  });
}

describe('what libvirt 11.3 said, parsed', () => {
  it('capabilities: one NUMA cell with CPUs 0 and 1', () => {
    expect(parseHostCapabilities(fixture('capabilities.xml')).cells).toEqual([{ id: 0, cpuIds: [0, 1] }]);
  });

  it('domain XML: the pinned definition as libvirt wrote it back, the live guest CPU libvirt expanded', () => {
    expect(parsePlacement(fixture('domain-pinned.xml'))).toEqual({ pinnedHostCpus: [4, 5, 6, 7], numaNodeset: [1] });
    expect(parsePlacement(fixture('domain-live.xml'))).toEqual({ pinnedHostCpus: undefined, numaNodeset: undefined });
    // A lab guest has no <cpu>; libvirt's live XML names TCG's default model and what it requires.
    expect(parseGuestCpu(fixture('domain-live.xml'))).toEqual({
      domainType: 'qemu',
      mode: 'custom',
      model: 'qemu64',
      requiredFeatures: ['hypervisor', 'lahf_lm'],
      disabledFeatures: [],
    });
    expect(parseCpuSet('0-3,8,^2')).toEqual([0, 1, 3, 8]);
    expect(() => parseCpuSet('0-x')).toThrow('malformed cpuset "0-x"');
  });

  it('the client expanded the TCG host-model CPU exactly as virsh hypervisor-cpu-baseline --features did', () => {
    expect(parseExpandedCpu(fixture('baseline-qemu.xml'))).toEqual(parseExpandedCpu(fixture('virsh-baseline-qemu.xml')));
  });
});

describe('pinning and NUMA binding from real domain XML', () => {
  const pinned = vmFromXml('pinned-xml', fixture('domain-pinned.xml'), 'big');

  it('the lab host (CPUs 0-1, node 0) is refused, naming the CPUs', async () => {
    const lab1 = await recordedHost('lab1');
    expect(topologyRefusal(pinned, lab1)).toBe(
      'pinned-xml is pinned to host CPUs 4-7 (<cputune> vcpupin/emulatorpin or <vcpu cpuset>); lab1 has CPUs 0-1, not 4-7',
    );
  });

  it('a host with CPUs 0-7 in one node lacks NUMA node 1; one with two nodes takes it', () => {
    const oneNode = host('one-node', { cpuCount: 8, topology: { cells: [{ id: 0, cpuIds: [0, 1, 2, 3, 4, 5, 6, 7] }] } });
    expect(topologyRefusal(pinned, oneNode)).toBe('pinned-xml binds its memory to NUMA nodes 1 (<numatune> nodeset); one-node has NUMA nodes 0, not 1');
    const twoNodes = host('two-nodes', {
      cpuCount: 8,
      topology: {
        cells: [
          { id: 0, cpuIds: [0, 1, 2, 3] },
          { id: 1, cpuIds: [4, 5, 6, 7] },
        ],
      },
    });
    expect(topologyRefusal(pinned, twoNodes)).toBeUndefined();
  });
});

describe('CPU compatibility by features from recorded domain capabilities', () => {
  it('the running lab guest (qemu64, TCG) fits the lab host it came from', async () => {
    const lab1 = await recordedHost('lab1');
    const lab2 = await recordedHost('lab2');
    expect(cpuRefusal(vmFromXml('rec1', fixture('domain-live.xml'), 'lab1'), lab1, lab2, [lab1, lab2])).toBeUndefined();
  });

  it('an older model on a newer host that has its features: a Nehalem guest on the EPYC (TCG) host', async () => {
    const tcg = await recordedHost('tcg');
    const nehalem = vm('old-guest', 'elsewhere', 0.1, { domainType: 'qemu', cpuMode: 'custom', cpuModel: 'Nehalem', cpuRequiredFeatures: [] });
    expect(cpuRefusal(nehalem, undefined, tcg, [tcg])).toBeUndefined();
    // Every feature of Nehalem (expanded by the same libvirt) is among the EPYC host's.
    const nehalemFeatures = parseExpandedCpu(fixture('baseline-nehalem-qemu.xml')).features;
    const offered = new Set(tcg.cpuByDomainType!.qemu.features);
    expect(nehalemFeatures.filter((f) => !offered.has(f))).toEqual([]);
  });

  /** A host-model guest as its live XML names it: the host-model CPU with its required and disabled features. */
  const hostModelGuest = (name: string, onHost: string, domainType: 'kvm' | 'qemu') => {
    const cpu = parseExpandedCpu(fixture(`baseline-${domainType}.xml`));
    return vm(name, onHost, 0.1, {
      domainType,
      cpuMode: 'custom',
      cpuModel: cpu.model,
      cpuRequiredFeatures: cpu.features,
      cpuDisabledFeatures: cpu.disabledFeatures,
    });
  };

  it("TCG's EPYC host-model runs where it came from: EPYC is usable='no' there, but only for features the guest disables", async () => {
    const [h1, h2] = [await recordedHost('h1'), await recordedHost('h2')];
    const guest = hostModelGuest('epyc-guest', 'h1', 'qemu');
    expect(h2.cpuByDomainType!.qemu.modelBlockers.EPYC).toEqual(guest.cpuDisabledFeatures!.filter((f) => f !== 'vme'));
    expect(cpuRefusal(guest, h1, h2, [h1, h2])).toBeUndefined();
    // Without the disables (a guest that wants EPYC whole) the same host is refused, naming the blockers.
    expect(cpuRefusal({ ...guest, cpuDisabledFeatures: [] }, h1, h2, [h1, h2])).toBe(
      "h2 cannot run epyc-guest's CPU model EPYC: it lacks fxsr_opt, misalignsse, nrip-save, osvw, topoext, xsavec (its domain capabilities' blockers), which the guest does not disable (host CPU EPYC)",
    );
  });

  it('a host-model guest is refused where its model is blocked: EPYC (TCG) on a KVM host, Icelake-Server (KVM) on a TCG host', async () => {
    const [h1, h2] = [await recordedHost('h1'), await recordedHost('h2')];
    const epyc = hostModelGuest('epyc-guest', 'h1', 'qemu');
    expect(cpuRefusal({ ...epyc, domainType: 'kvm' }, h1, h2, [h1, h2])).toMatch(
      /^h2 cannot run epyc-guest's CPU model EPYC: it lacks .* \(its domain capabilities' blockers\), which the guest does not disable \(host CPU Icelake-Server\)$/,
    );
    const icelake = hostModelGuest('icelake-guest', 'h1', 'kvm');
    expect(cpuRefusal(icelake, h1, h2, [h1, h2])).toBeUndefined();
    expect(cpuRefusal({ ...icelake, domainType: 'qemu' }, h1, h2, [h1, h2])).toMatch(
      /^h2 cannot run icelake-guest's CPU model Icelake-Server: it lacks .* \(host CPU EPYC\)$/,
    );
  });

  it('an equal model name with a feature missing is incompatible', async () => {
    const source = await recordedHost('src');
    // The same EPYC host-model, on a host whose TCG CPU lacks la57 (as a host of the same model
    // name and an older stepping reports it): derived from the recording by removing that feature.
    const real = source.cpuByDomainType!.qemu;
    const lacking = host('dst', {
      ...source,
      name: 'dst',
      cpuByDomainType: { ...source.cpuByDomainType, qemu: { ...real, features: real.features.filter((f) => f !== 'la57') } },
    });
    expect(real.model).toBe('EPYC');
    const guest = hostModelGuest('epyc-guest', 'src', 'qemu');
    expect(cpuRefusal(guest, source, source, [source])).toBeUndefined();
    expect(cpuRefusal(guest, source, lacking, [source, lacking])).toBe(
      `dst (EPYC) lacks 1 of the ${guest.cpuRequiredFeatures!.length} CPU features epyc-guest's CPU model EPYC needs: la57`,
    );
  });
});

describe('CPU compatibility where only hosts are known (the simulator)', () => {
  const skylake = ['sse4_2', 'avx', 'avx2', 'avx512f'];
  it('same model name, a feature missing: refused; older model on a newer host with its features: accepted', () => {
    const a = host('a', { cpuModel: 'Skylake', cpuFeatures: skylake });
    const sameName = host('same-name', { cpuModel: 'Skylake', cpuFeatures: ['sse4_2', 'avx', 'avx2'] });
    const h = host('haswell', { cpuModel: 'Haswell', cpuFeatures: ['sse4_2', 'avx', 'avx2'] });
    const newer = host('newer', { cpuModel: 'Icelake', cpuFeatures: [...skylake, 'vaes'] });
    const onSkylake = vm('sky', 'a', 0.1, { cpuModel: 'Skylake' });
    expect(cpuRefusal(onSkylake, a, sameName, [a, sameName, h, newer])).toBe(
      "same-name (Skylake) lacks 1 of the 4 CPU features sky's CPU model Skylake (its features as on a) needs: avx512f",
    );
    const onHaswell = vm('has', 'haswell', 0.1, { cpuModel: 'Haswell' });
    expect(cpuRefusal(onHaswell, h, newer, [a, sameName, h, newer])).toBeUndefined();
    expect(cpuRefusal(onHaswell, h, a, [a, sameName, h, newer])).toBeUndefined();
  });
});
