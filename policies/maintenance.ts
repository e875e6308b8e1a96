/** Maintenance drain: every VM on a host flagged `maintenance: true` must leave; such hosts are never targets. */
import { definePolicy } from '../src/policy/api.js';

export default definePolicy({
  name: 'maintenance',
  description: 'Evacuate hosts in maintenance; never place on them',
  select(ctx) {
    const drained = new Set(ctx.state.hosts.filter((h) => h.up && h.maintenance).map((h) => h.name));
    return ctx.state.vms
      .filter((vm) => drained.has(vm.host) && (vm.state === 'running' || vm.state === 'paused' || vm.state === 'shutoff'))
      .sort((a, b) => a.memoryBytes - b.memoryBytes)
      .map((vm) => ({ vm, reason: `host ${vm.host} is in maintenance`, mustMove: true }));
  },
  filter(_vm, host) {
    return host.maintenance ? `${host.name} is in maintenance` : true;
  },
});
