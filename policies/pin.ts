/** Pin: a VM tagged `pinned` (libvirt metadata or config policy.pinnedVms) never moves. */
import { definePolicy, unknownOptionProblems } from '../src/policy/api.js';
import { registerBuiltinPolicy } from '../src/policy/registry.js';

export default registerBuiltinPolicy(
  definePolicy({
    name: 'pin',
    // Takes no options: a typo meant for another policy is refused when it loads.
    checkOptions: (options) => unknownOptionProblems(options, []),
    description: 'VMs tagged "pinned" (metadata or config) never move',
    filter(vm) {
      return vm.tags.includes('pinned') ? `${vm.name} is pinned` : true;
    },
  }),
);
