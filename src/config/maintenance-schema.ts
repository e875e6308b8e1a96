/** The `maintenance:` section of the config: what `virt-balancer maintenance` runs on each host of a roll (docs/operator-workflow.md, "Rolling maintenance"). */
import { z } from 'zod';
import { seconds } from './durations.js';
import { commandArgv } from './power-schema.js';

const HOOK_EXAMPLE = '["ssh", "root@{address}", "apt-get -y upgrade && systemctl restart libvirtd"]';

export const maintenanceSchema = z.strictObject({
  hook: commandArgv(HOOK_EXAMPLE)
    .optional()
    .describe(
      `The program and its arguments run on each host once it is drained (the update, reboot or restart of libvirtd), without a shell (execFile); \`{name}\`, \`{address}\` (the host's powerAddress, default the host part of its uri) and \`{uri}\` are replaced, e.g. ${HOOK_EXAMPLE}. Exit status 0 is success; anything else stops the roll. \`maintenance --hook\` overrides it; absent and not given: no hook runs.`,
    ),
  hookTimeoutSeconds: seconds()
    .positive()
    .default(1800)
    .describe('A hook still running after this long is killed (SIGKILL) and the roll stops (code hook-timeout).'),
  healthyTimeoutSeconds: seconds()
    .positive()
    .default(900)
    .describe(
      'After the hook, how long to wait for the host to answer libvirt again and be healthy (connected, not flagged maintenance in the config) before the roll stops (code host-not-healthy).',
    ),
  returnVms: z
    .boolean()
    .default(false)
    .describe('Move the VMs a host had before its drain back to it once it is healthy again (`maintenance --return` sets it for one roll).'),
});

export type MaintenanceConfig = z.infer<typeof maintenanceSchema>;
