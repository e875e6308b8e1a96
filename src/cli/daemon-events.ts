/** What a command prints while the daemon carries out its request (controller/control-protocol.ts). */
import type { ControlEvent } from '../controller/control-protocol.js';
import { err } from './output.js';

/**
 * The default relay: "handed to the daemon" once accepted, then each progress message on stderr
 * (nothing with --json: stdout stays the result). `special` takes the kinds a command shows itself.
 */
export function relayDaemonEvents(json: boolean, special: (event: Extract<ControlEvent, { type: 'progress' }>) => boolean = () => false) {
  return (event: ControlEvent): void => {
    if (event.type === 'accepted' && !json)
      err(
        `handed to the running daemon (pid ${event.pid}): it plans and moves with its own executor; interrupting this command detaches from it, the daemon finishes the request (see virt-balancer history)\n`,
      );
    if (event.type === 'progress' && !special(event) && !json) err(`daemon: ${event.message}\n`);
  };
}
