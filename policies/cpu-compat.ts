/**
 * CPU compatibility: the target must be able to run the guest CPU the VM got on its source.
 * A VM with a named CPU model (e.g. Skylake-Server) passes when the target's host CPU is the same
 * model or has every feature of the source host's CPU; a VM using host-model or host-passthrough
 * (no named model) needs a target whose CPU features include all of the source's. When features are
 * unknown the filter passes: libvirt checks again before migrating and fails cleanly, leaving the
 * VM on the source.
 */
import { definePolicy } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

export default registerBuiltinPolicy(
  definePolicy({
    name: 'cpu-compat',
    description: "The target's CPU must run the VM's CPU",
    filter(vm, host, ctx) {
      const source = ctx.host(vm.host);
      if (!source?.cpuFeatures || !host.cpuFeatures) return true;
      if (vm.cpuModel && host.cpuModel === vm.cpuModel) return true;
      const missing = source.cpuFeatures.filter((f) => !host.cpuFeatures!.includes(f));
      if (missing.length === 0) return true;
      return `${host.name} (${host.cpuModel ?? 'unknown CPU'}) lacks CPU features of ${source.name}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`;
    },
  }),
);
