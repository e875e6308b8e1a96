/**
 * Example custom policy: keep VMs off hosts carrying a label, unless the VM opts in with a tag.
 *
 *   policy:
 *     policyDirs: [ /etc/virt-balancer/policies ]
 *     policies:
 *       - name: keep-off-label
 *         options: { label: "gpu", value: "true", allowTag: "gpu-ok" }
 */
import { definePolicy } from '../../src/policy/api.js';

export default definePolicy({
  name: 'keep-off-label',
  description: 'Keep VMs off hosts with a given label unless the VM is tagged to allow it',
  filter(vm, host, ctx) {
    const label = String(ctx.options.label ?? 'reserved');
    const value = ctx.options.value === undefined ? undefined : String(ctx.options.value);
    const allowTag = String(ctx.options.allowTag ?? `${label}-ok`);
    const hostValue = host.labels[label];
    if (hostValue === undefined || (value !== undefined && hostValue !== value)) return true;
    return vm.tags.includes(allowTag) ? true : `${host.name} is labelled ${label}=${hostValue} and ${vm.name} lacks tag ${allowTag}`;
  },
  score(_vm, host, ctx) {
    // Among allowed hosts, prefer ones without the label so labelled capacity stays free.
    return host.labels[String(ctx.options.label ?? 'reserved')] === undefined ? 1 : 0.5;
  },
});
