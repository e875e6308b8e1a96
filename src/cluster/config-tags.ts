/**
 * Tags a VM gets from the config rather than from libvirt metadata (policy.pinnedVms -> "pinned").
 * The collector and the simulator both apply them, so a policy tested in `simulate` sees the same
 * VM as it will live.
 */
import type { PolicyConfig } from '../config/policy-schema.js';

/** The config-given tags of the VM named `vmName` (empty when the config names it nowhere). */
export function configTags(vmName: string, policy: Pick<PolicyConfig, 'pinnedVms'>): string[] {
  return policy.pinnedVms.includes(vmName) ? ['pinned'] : [];
}

/** `tags` with the config-given ones added, each once. */
export function withConfigTags(vmName: string, tags: readonly string[], policy: Pick<PolicyConfig, 'pinnedVms'>): string[] {
  return [...new Set([...tags, ...configTags(vmName, policy)])];
}
