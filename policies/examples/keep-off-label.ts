/**
 * Example custom policy: keep VMs off hosts carrying a label, unless the VM opts in with a tag.
 * A rule both ways: the filter keeps VMs from moving onto such hosts, and select names the VMs
 * already on one as must-moves, so the engine repairs the violation.
 *
 *   policy:
 *     policyDirs: [ /etc/virt-balancer/policies ]
 *     policies:
 *       - name: keep-off-label
 *         options: { label: "gpu", value: "true", allowTag: "gpu-ok" }
 */
import { definePolicy, unknownOptionProblems, type HostObservation, type PolicyContext, type VmObservation } from '../../src/policy/api.js';

/** Why the VM may not be on the host, or undefined when it may. */
function forbidden(vm: VmObservation, host: HostObservation, ctx: PolicyContext): string | undefined {
  const label = String(ctx.options.label ?? 'reserved');
  const value = ctx.options.value === undefined ? undefined : String(ctx.options.value);
  const allowTag = String(ctx.options.allowTag ?? `${label}-ok`);
  const hostValue = host.labels[label];
  if (hostValue === undefined || (value !== undefined && hostValue !== value)) return undefined;
  return vm.tags.includes(allowTag) ? undefined : `${host.name} is labelled ${label}=${hostValue} and ${vm.name} lacks tag ${allowTag}`;
}

export default definePolicy({
  name: 'keep-off-label',
  description: 'Keep VMs off hosts with a given label unless the VM is tagged to allow it',
  // Refused when the policy loads (check-config, run, a reload): a misspelt option or a label that
  // is not a string would otherwise silently guard the default label `reserved`.
  checkOptions(options) {
    const problems = unknownOptionProblems(options, ['label', 'value', 'allowTag']);
    for (const name of ['label', 'value', 'allowTag'] as const) {
      const set = options[name];
      if (set !== undefined && typeof set !== 'string' && typeof set !== 'number' && typeof set !== 'boolean')
        problems.push(`${name} is ${JSON.stringify(set)}: it must be a label ${name === 'allowTag' ? 'tag' : name === 'label' ? 'name' : 'value'} (a string)`);
    }
    return problems;
  },
  select(ctx) {
    const candidates = [];
    for (const host of ctx.state.hosts) {
      if (!host.up) continue;
      for (const vm of ctx.vmsOn(host.name)) {
        const why = forbidden(vm, host, ctx);
        if (why) candidates.push({ vm, reason: why, mustMove: true });
      }
    }
    return candidates;
  },
  filter(vm, host, ctx) {
    return forbidden(vm, host, ctx) ?? true;
  },
  score(_vm, host, ctx) {
    // Among allowed hosts, prefer ones without the label so labelled capacity stays free.
    return host.labels[String(ctx.options.label ?? 'reserved')] === undefined ? 1 : 0.5;
  },
});
