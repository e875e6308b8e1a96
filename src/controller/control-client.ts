/**
 * The command's end of the control socket (control-protocol.ts): send the request to the daemon
 * serving this state directory and relay its events. No daemon listening (no socket file, or
 * nobody accepting on it) is `undefined`: the command runs itself.
 */
import { connect } from 'node:net';
import { RequestRefused } from './errors.js';
import { type ControlEvent, type ControlRequest, controlSocketPath } from './control-protocol.js';

/** The daemon's answer went wrong (it stopped mid-request, sent something unreadable, or failed). */
export class ControlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/**
 * How long the daemon has to accept a request. It accepts at once from its event loop; a daemon
 * stopped (SIGSTOP) or stuck still has the kernel accept the connection, and would hold the
 * command forever.
 */
export const CONTROL_ACCEPT_TIMEOUT_MS = 30_000;

/**
 * Hand `request` to the daemon of `stateDir`. Resolves with the daemon's result, or undefined when
 * no daemon listens. After the daemon accepted, the wait is as long as the request runs (each
 * migration has its own deadline). @throws RequestRefused (the daemon refused it: code and message
 * as it said), ControlError (the exchange failed, or no acceptance within acceptTimeoutMs).
 */
export function requestDaemon(
  stateDir: string,
  request: ControlRequest,
  onEvent: (event: ControlEvent) => void = () => {},
  acceptTimeoutMs = CONTROL_ACCEPT_TIMEOUT_MS,
): Promise<unknown | undefined> {
  const path = controlSocketPath(stateDir);
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const acceptTimer = setTimeout(
      () =>
        settle(() =>
          reject(
            new ControlError(
              `the daemon listening on ${path} did not accept the request within ${acceptTimeoutMs / 1000} s: it may be stopped or stuck; check it (systemctl status virt-balancer, its log) and try again`,
            ),
          ),
        ),
      acceptTimeoutMs,
    );
    let accepted = false;
    let settled = false;
    let buffered = '';
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(acceptTimer);
      fn();
      socket.destroy();
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!accepted && (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')) return settle(() => resolve(undefined));
      settle(() => reject(new ControlError(`the daemon's control socket ${path}: ${error.message}`)));
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let event: ControlEvent;
        try {
          event = JSON.parse(line) as ControlEvent;
        } catch {
          return settle(() => reject(new ControlError(`the daemon answered something that is not JSON on ${path}`)));
        }
        if (event.type === 'accepted') {
          accepted = true;
          clearTimeout(acceptTimer);
        }
        onEvent(event);
        if (event.type === 'result') return settle(() => resolve(event.result));
        if (event.type === 'refused') return settle(() => reject(new RequestRefused(event.code, event.message)));
        if (event.type === 'error') return settle(() => reject(new ControlError(`the daemon could not carry out the request: ${event.message}`)));
      }
    });
    socket.on('close', () =>
      settle(() =>
        reject(
          new ControlError(
            `the daemon closed ${path} before answering${accepted ? ' (it had accepted the request; see its log and `virt-balancer history`)' : ''}`,
          ),
        ),
      ),
    );
  });
}

/**
 * Whether a daemon accepts connections on the control socket of `stateDir` (connects and hangs up
 * without a request; the daemon ignores such a client). For requests no daemon takes over yet
 * (`maintenance`), to refuse with the fix rather than a lock error.
 */
export function daemonListens(stateDir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(controlSocketPath(stateDir));
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
