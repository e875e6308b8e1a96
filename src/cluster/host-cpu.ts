/**
 * A host's CPU as guests see it, read once per connection: for each domain type (kvm, qemu) its
 * domain capabilities (virConnectGetDomainCapabilities: the host-model CPU and which named models
 * are usable) and the host-model CPU expanded to every feature (virConnectBaselineHypervisorCPU
 * with VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES), so CPU compatibility compares features, not
 * model names (src/policy/hard-limits.ts cpuRefusal).
 */
import { ConnectBaselineCpuFlags, type LibvirtConnection } from '../libvirt/index.js';
import { parseDomainCapabilitiesCpu, parseExpandedCpu } from './guest-cpu.js';

/** Domain types whose CPU view is read: KVM and TCG emulate different CPUs on the same host. */
export const DOMAIN_TYPES = ['kvm', 'qemu'] as const;

export interface HostGuestCpu {
  /** The host-model CPU's model. */
  model?: string;
  /** Every feature of the host-model CPU (its model's included). */
  features: string[];
  /** Named models for a guest of this type, each with the features that block it here ([] when usable). */
  modelBlockers: Record<string, string[]>;
}

/**
 * The host's CPU per domain type; a type whose domain capabilities or baseline fail (no /dev/kvm,
 * an old libvirt without virConnectBaselineHypervisorCPU, which came in 4.4.0) is left out, and
 * `failures` says why, one line each.
 */
export async function readHostGuestCpus(
  conn: Pick<LibvirtConnection, 'connectGetDomainCapabilities' | 'connectBaselineHypervisorCpu'>,
): Promise<{ byDomainType: Record<string, HostGuestCpu>; failures: string[] }> {
  const byDomainType: Record<string, HostGuestCpu> = {};
  const failures: string[] = [];
  for (const type of DOMAIN_TYPES) {
    try {
      const caps = await conn.connectGetDomainCapabilities(type);
      const parsed = parseDomainCapabilitiesCpu(caps);
      if (!parsed.hostModelCpuXml) {
        failures.push(`${type}: domain capabilities offer no host-model CPU`);
        continue;
      }
      const expanded = parseExpandedCpu(await conn.connectBaselineHypervisorCpu([parsed.hostModelCpuXml], ConnectBaselineCpuFlags.EXPAND_FEATURES, type));
      byDomainType[type] = { model: expanded.model ?? parsed.hostModel, features: expanded.features, modelBlockers: parsed.modelBlockers };
    } catch (error) {
      failures.push(`${type}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { byDomainType, failures };
}
