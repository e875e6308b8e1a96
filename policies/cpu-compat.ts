/**
 * CPU compatibility: a VM whose domain XML names a CPU model may only go to a host whose CPU model
 * is the same or whose capabilities list that model's features. Unknown models pass (the
 * migration itself is checked by libvirt, and fails cleanly, leaving the VM on the source).
 */
import { definePolicy } from '../src/policy/api.js';

export default definePolicy({
  name: 'cpu-compat',
  description: "The target's CPU must run the VM's CPU model",
  filter(vm, host, ctx) {
    if (!vm.cpuModel || !host.cpuModel) return true;
    if (vm.cpuModel === host.cpuModel) return true;
    const source = ctx.host(vm.host);
    // Same model as the source host: what runs there needs the source's features.
    if (source?.cpuModel === vm.cpuModel && source.cpuFeatures && host.cpuFeatures) {
      const missing = source.cpuFeatures.filter((f) => !host.cpuFeatures!.includes(f));
      return missing.length === 0 ? true : `${host.name} lacks CPU features ${missing.slice(0, 5).join(', ')} of model ${vm.cpuModel}`;
    }
    return `${host.name} CPU model ${host.cpuModel} differs from the VM's ${vm.cpuModel}`;
  },
});
