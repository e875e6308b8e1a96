/**
 * libvirt's node suspend as a power-off action (power.action node-suspend): checks the host's
 * capabilities list the target under `<power_management>`, then calls virNodeSuspendForDuration.
 * The host wakes by its RTC alarm after the duration; nothing earlier wakes it but a command such
 * as Wake-on-LAN (power.powerOnCommand).
 */
import { parseHostCapabilities, type SuspendTarget } from '../cluster/capabilities.js';
import { NodeSuspendTarget } from '../libvirt/index.js';

/** The two calls node suspend needs (a LibvirtConnection has them). */
export interface SuspendableHost {
  connectGetCapabilities(): Promise<string>;
  nodeSuspendForDuration(target: number, durationSeconds: number, flags?: number): Promise<void>;
}

const TARGETS: Record<SuspendTarget, number> = { mem: NodeSuspendTarget.MEM, disk: NodeSuspendTarget.DISK, hybrid: NodeSuspendTarget.HYBRID };

/**
 * Suspend the host. Resolves when libvirt accepted the request (the host suspends shortly after).
 * @throws Error naming the host when its capabilities do not list the target, or libvirt refuses.
 */
export async function suspendHost(hostName: string, conn: SuspendableHost, target: SuspendTarget, durationSeconds: number): Promise<void> {
  const supported = parseHostCapabilities(await conn.connectGetCapabilities()).suspendTargets;
  if (!supported.includes(target))
    throw new Error(
      `host ${hostName} cannot suspend to ${target}: its capabilities' <power_management> lists ${supported.length ? supported.map((t) => `suspend_${t}`).join(', ') : 'nothing'}; set power.suspend.target to one it lists, or use power.action: command`,
    );
  await conn.nodeSuspendForDuration(TARGETS[target], durationSeconds);
}
