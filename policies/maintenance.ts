/**
 * Maintenance drain: every VM on a host flagged `maintenance: true` must leave (a must-move: only
 * hard limits apply). That such hosts are never targets is the engine's core filter
 * `not-in-maintenance` (src/policy/core-filters.ts), whether or not this policy is enabled. By
 * libvirt state: running (and blocked) VMs move live, paused ones live and stay paused on the target, shut-off ones cold (their definition
 * moves); crashed and guest-suspended (pmsuspended) ones cannot be migrated and are reported in the
 * plan with what to do. Smallest first, so the most VMs are out soonest.
 */
import { definePolicy } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

export default registerBuiltinPolicy(
  definePolicy({
    name: 'maintenance',
    description: 'Evacuate hosts in maintenance',
    select(ctx) {
      const drained = ctx.state.hosts.filter((h) => h.up && h.maintenance);
      return drained
        .flatMap((h) => ctx.vmsOn(h.name))
        .sort((a, b) => a.memoryBytes - b.memoryBytes)
        .map((vm) => ({ vm, reason: `host ${vm.host} is in maintenance`, mustMove: true }));
    },
  }),
);
