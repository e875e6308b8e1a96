/**
 * What the hard limits (src/policy/hard-limits.ts) read from libvirt's XML about CPUs: a guest's
 * CPU definition, vCPU pinning and NUMA binding from its domain XML, and the CPU models and
 * features a host offers from its domain capabilities (virConnectGetDomainCapabilities) and the
 * expanded host-model CPU (virConnectBaselineHypervisorCPU with
 * VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES). Element and attribute names are libvirt's
 * (docs/formatdomain.rst "CPU model and topology", "CPU Tuning", "NUMA Node Tuning";
 * docs/formatdomaincaps.rst "CPU configuration").
 */

/** The guest CPU's `<cpu mode>`, or 'none' when the domain has no `<cpu>` (the hypervisor's default model). */
export type GuestCpuMode = 'custom' | 'host-model' | 'host-passthrough' | 'maximum' | 'none';

export interface GuestCpu {
  /** `<domain type>`: 'kvm' or 'qemu' (TCG); the domain capabilities to compare with are those of this type. */
  domainType?: string;
  mode: GuestCpuMode;
  /** `<cpu><model>`, when it names one. */
  model?: string;
  /** `<feature policy='require'|'force' name>`. */
  requiredFeatures: string[];
  /** `<feature policy='disable'|'forbid' name>`: features of its model the guest does without. */
  disabledFeatures: string[];
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}=(?:'([^']*)'|"([^"]*)")`).exec(tag);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Host CPU ids of a libvirt cpuset string ("0-3,8,^2", docs/formatdomain.rst `<vcpu cpuset>`):
 * ranges, single ids and exclusions (^N). Throws on a malformed set, naming it.
 */
export function parseCpuSet(set: string): number[] {
  const included = new Set<number>();
  const excluded = new Set<number>();
  for (const raw of set.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const m = /^(\^)?(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`malformed cpuset "${set}" (at "${part}"): expected ids and ranges such as 0-3,8,^2`);
    const from = Number(m[2]);
    const to = m[3] === undefined ? from : Number(m[3]);
    for (let id = from; id <= to; id++) (m[1] ? excluded : included).add(id);
  }
  return [...included].filter((id) => !excluded.has(id)).sort((a, b) => a - b);
}

/** The guest CPU of a domain XML (`<domain type>`, `<cpu mode>`, `<model>`, required features). */
export function parseGuestCpu(domainXml: string): GuestCpu {
  const domainTag = /<domain\s[^>]*>/.exec(domainXml)?.[0] ?? '';
  const domainType = attr(domainTag, 'type');
  // The domain's own <cpu> (a direct child of <domain>): its <cpu ...> opening tag is not <cpus>, <cputune>.
  const cpu = /<cpu(\s[^>]*)?(?:\/>|>([\s\S]*?)<\/cpu>)/.exec(domainXml);
  if (!cpu) return { domainType, mode: 'none', requiredFeatures: [], disabledFeatures: [] };
  const mode = (attr(cpu[0], 'mode') as GuestCpuMode | undefined) ?? 'custom';
  const body = cpu[2] ?? '';
  const model = /<model[^>]*>([^<]+)<\/model>/.exec(body)?.[1]?.trim();
  const features = (policies: string[]) =>
    [...body.matchAll(/<feature\s[^>]*>/g)]
      .filter((m) => policies.includes(attr(m[0], 'policy') ?? 'require'))
      .map((m) => attr(m[0], 'name'))
      .filter((n): n is string => Boolean(n));
  return { domainType, mode, model, requiredFeatures: features(['require', 'force']), disabledFeatures: features(['disable', 'forbid']) };
}

/**
 * Host CPUs and NUMA nodes a domain is bound to: CPU ids from `<vcpu cpuset>` and `<cputune>`'s
 * `<vcpupin>`, `<emulatorpin>`, `<iothreadpin>` cpusets; NUMA nodes from `<numatune>`'s `<memory
 * nodeset>` and `<memnode nodeset>`. Undefined fields where it is not bound.
 */
export function parsePlacement(domainXml: string): { pinnedHostCpus?: number[]; numaNodeset?: number[] } {
  const cpus = new Set<number>();
  const vcpuTag = /<vcpu(\s[^>]*)?>/.exec(domainXml)?.[0];
  const vcpuSet = vcpuTag && attr(vcpuTag, 'cpuset');
  if (vcpuSet) for (const id of parseCpuSet(vcpuSet)) cpus.add(id);
  const cputune = /<cputune>([\s\S]*?)<\/cputune>/.exec(domainXml)?.[1] ?? '';
  for (const m of cputune.matchAll(/<(?:vcpupin|emulatorpin|iothreadpin)\s[^>]*>/g)) {
    const set = attr(m[0], 'cpuset');
    if (set) for (const id of parseCpuSet(set)) cpus.add(id);
  }
  const nodes = new Set<number>();
  const numatune = /<numatune>([\s\S]*?)<\/numatune>/.exec(domainXml)?.[1] ?? '';
  for (const m of numatune.matchAll(/<(?:memory|memnode)\s[^>]*>/g)) {
    const set = attr(m[0], 'nodeset');
    if (set) for (const id of parseCpuSet(set)) nodes.add(id);
  }
  return {
    pinnedHostCpus: cpus.size > 0 ? [...cpus].sort((a, b) => a - b) : undefined,
    numaNodeset: nodes.size > 0 ? [...nodes].sort((a, b) => a - b) : undefined,
  };
}

/** What a host's domain capabilities say about guest CPUs. */
export interface DomainCapabilitiesCpu {
  /** `<domain>`: the virt type they are for (kvm, qemu). */
  domainType?: string;
  /** The host-model CPU's model, when host-model is supported. */
  hostModel?: string;
  /**
   * The host-model CPU as a `<cpu>` definition virConnectBaselineHypervisorCPU takes (libvirt takes
   * `<cpu>` elements only; virsh makes the same element from domain capabilities by itself).
   */
  hostModelCpuXml?: string;
  /**
   * Every `<mode name='custom'>` model with what keeps it from running here: [] for usable='yes',
   * the `<blockers model>` features for usable='no' (a guest that disables them all still runs);
   * models of usable='unknown' are left out.
   */
  modelBlockers: Record<string, string[]>;
}

/** The CPU part of virConnectGetDomainCapabilities' XML. */
export function parseDomainCapabilitiesCpu(xml: string): DomainCapabilitiesCpu {
  const domainType = /<domain>([^<]+)<\/domain>/.exec(xml)?.[1]?.trim();
  const hostModelMode = /<mode\s+name=['"]host-model['"]\s+supported=['"]yes['"]>([\s\S]*?)<\/mode>/.exec(xml)?.[1];
  const hostModel = hostModelMode ? /<model[^>]*>([^<]+)<\/model>/.exec(hostModelMode)?.[1]?.trim() : undefined;
  const hostModelCpuXml = hostModelMode && hostModel ? `<cpu mode='custom' match='exact'>${hostModelMode}</cpu>` : undefined;
  const custom = /<mode\s+name=['"]custom['"][^>]*>([\s\S]*?)<\/mode>/.exec(xml)?.[1] ?? '';
  const modelBlockers: Record<string, string[]> = {};
  for (const m of custom.matchAll(/<model\s[^>]*>([^<]+)<\/model>/g)) {
    const usable = attr(m[0], 'usable');
    if (usable === 'yes') modelBlockers[m[1].trim()] = [];
    // libvirt lists the blockers right after the model; a usable='no' model without them blocks on something unnamed.
    else if (usable === 'no') modelBlockers[m[1].trim()] = ['(unnamed)'];
  }
  for (const b of custom.matchAll(/<blockers\s+model=['"]([^'"]+)['"]>([\s\S]*?)<\/blockers>/g)) {
    modelBlockers[b[1]] = [...b[2].matchAll(/<feature\s+name=['"]([^'"]+)['"]/g)].map((f) => f[1]);
  }
  return { domainType, hostModel, hostModelCpuXml, modelBlockers };
}

/**
 * A CPU definition as virConnectBaselineHypervisorCPU returns it with
 * VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES: its model, every feature it requires (the model's own
 * included) and the model's features it disables.
 */
export function parseExpandedCpu(xml: string): { model?: string; features: string[]; disabledFeatures: string[] } {
  const cpu = parseGuestCpu(xml);
  return { model: cpu.model, features: [...new Set(cpu.requiredFeatures)].sort(), disabledFeatures: [...new Set(cpu.disabledFeatures)].sort() };
}
