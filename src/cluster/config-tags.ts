/**
 * Tags a VM gets from the config rather than from libvirt metadata (policy.pinnedVms -> "pinned",
 * policy.vmPriorities -> "priority:N", replacing a metadata priority tag).
 * The collector and the simulator both apply them, so a policy tested in `simulate` sees the same
 * VM as it will live.
 */
import type { PolicyConfig } from '../config/policy-schema.js';

/** The config-given tags of the VM named `vmName` (empty when the config names it nowhere). */
export function configTags(vmName: string, policy: ConfigTagSource): string[] {
  const tags = policy.pinnedVms.includes(vmName) ? ['pinned'] : [];
  const priority = policy.vmPriorities?.[vmName];
  if (priority !== undefined) tags.push(`priority:${priority}`);
  return tags;
}

/** The parts of the policy config that give tags (vmPriorities optional for callers that build one by hand). */
export type ConfigTagSource = Pick<PolicyConfig, 'pinnedVms'> & Partial<Pick<PolicyConfig, 'vmPriorities'>>;

/** `tags` with the config-given ones added, each once. */
export function withConfigTags(vmName: string, tags: readonly string[], policy: ConfigTagSource): string[] {
  const given = configTags(vmName, policy);
  // The config's priority replaces one from metadata, so a VM has one.
  const kept = given.some((t) => t.startsWith('priority:')) ? tags.filter((t) => !t.startsWith('priority:')) : tags;
  return [...new Set([...kept, ...given])];
}
