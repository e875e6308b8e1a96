/**
 * Tags a VM gets from the config rather than from libvirt metadata (policy.pinnedVms -> "pinned",
 * policy.vmPriorities -> "priority:N", policy.vmOverrides -> "automation:LEVEL", "evacuation:MODE",
 * "techniques:A+B", each replacing a metadata tag of the same key).
 * The collector and the simulator both apply them, so a policy tested in `simulate` sees the same
 * VM as it will live.
 */
import type { PolicyConfig } from '../config/policy-schema.js';

/** The config-given tags of the VM named `vmName` (empty when the config names it nowhere). */
export function configTags(vmName: string, policy: ConfigTagSource): string[] {
  const tags = policy.pinnedVms.includes(vmName) ? ['pinned'] : [];
  const priority = policy.vmPriorities?.[vmName];
  if (priority !== undefined) tags.push(`priority:${priority}`);
  const override = policy.vmOverrides?.[vmName];
  if (override?.automation) tags.push(`automation:${override.automation}`);
  if (override?.evacuation) tags.push(`evacuation:${override.evacuation}`);
  if (override?.techniques) tags.push(`techniques:${override.techniques.join('+')}`);
  return tags;
}

/** The parts of the policy config that give tags (vmPriorities optional for callers that build one by hand). */
export type ConfigTagSource = Pick<PolicyConfig, 'pinnedVms'> & Partial<Pick<PolicyConfig, 'vmPriorities' | 'vmOverrides'>>;

/** Tag keys of which a VM has one value: a config-given tag replaces a metadata tag of its key. */
const SINGLE_VALUED = ['priority', 'automation', 'evacuation', 'techniques'];

/** `tags` with the config-given ones added, each once. */
export function withConfigTags(vmName: string, tags: readonly string[], policy: ConfigTagSource): string[] {
  const given = configTags(vmName, policy);
  // The config's value replaces one from metadata, so a VM has one per key.
  const replaced = SINGLE_VALUED.filter((key) => given.some((t) => t.startsWith(`${key}:`)));
  const kept = tags.filter((t) => !replaced.some((key) => t.startsWith(`${key}:`)));
  return [...new Set([...kept, ...given])];
}
