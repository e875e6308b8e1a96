/**
 * Why an operator's request (drain, migrate, approve) is refused before anything moves, as a code
 * a caller can branch on (the CLI's exit status, the control socket's answer) and a sentence for
 * the person: the code is the contract, the message is never parsed.
 */

/** Every code a workflow refuses a request with; `state-dir` when the state directory fails its trust check. */
export type RefusalCode =
  | 'state-dir'
  | 'unknown-host'
  | 'host-down'
  | 'maintenance-policy-disabled'
  | 'vm-not-found'
  | 'already-on-target'
  | 'target-down'
  | 'job-running'
  | 'technique-state'
  | 'engine-refused'
  | 'recommendation-not-found'
  | 'recommendation-not-waiting'
  | 'vm-name-taken'
  | 'not-leader'
  | 'daemon-not-answering';

/** A request refused before it changed anything: `code` says which rule, `message` says what to do. */
export class RequestRefused extends Error {
  constructor(
    readonly code: RefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'RequestRefused';
  }
}

/** The daemon cannot start or must stop (a held state directory, a bad listen address...): the message says why and what to do. */
export class DaemonError extends Error {
  constructor(
    message: string,
    /** The process's exit status: 2 for an invalid config, 1 otherwise. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'DaemonError';
  }
}
