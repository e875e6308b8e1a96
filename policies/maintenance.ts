/**
 * Maintenance drain: every VM on a host flagged `maintenance: true` must leave (a must-move: only
 * hard limits apply). That such hosts are never targets is the engine's core filter
 * `not-in-maintenance` (src/policy/core-filters.ts), whether or not this policy is enabled. By
 * libvirt state: running (and blocked) VMs move live, paused ones live and stay paused on the target, shut-off ones cold (their definition
 * moves); crashed and guest-suspended (pmsuspended) ones cannot be migrated and are reported in the
 * plan with what to do. Smallest first, so the most VMs are out soonest.
 *
 * A VM's evacuation override (tag evacuation:MODE or policy.vmOverrides, src/policy/vm-overrides.ts)
 * changes how it leaves: `cold` is not moved while it runs (once shut off it moves cold),
 * `shutdown` is shut down and stays (never moved), `never` stays. Each VM held so is said in a
 * plan notice, with what empties the host.
 */
import { definePolicy, unknownOptionProblems } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';
import { evacuationHold } from '../src/policy/vm-overrides.js';

export default registerBuiltinPolicy(
  definePolicy({
    name: 'maintenance',
    // Takes no options: a typo meant for another policy is refused when it loads.
    checkOptions: (options) => unknownOptionProblems(options, []),
    description: 'Evacuate hosts in maintenance',
    select(ctx) {
      const drained = ctx.state.hosts.filter((h) => h.up && h.maintenance);
      return drained
        .flatMap((h) => ctx.vmsOn(h.name))
        .filter((vm) => {
          const held = evacuationHold(vm);
          if (held) ctx.notice(`${vm.name} on ${vm.host} (in maintenance) ${held}`);
          return !held;
        })
        .sort((a, b) => a.memoryBytes - b.memoryBytes)
        .map((vm) => ({ vm, reason: `host ${vm.host} is in maintenance`, mustMove: true }));
    },
  }),
);
