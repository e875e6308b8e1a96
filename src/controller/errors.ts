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
  | 'vm-pinned'
  | 'engine-refused'
  | 'recommendation-not-found'
  | 'recommendation-not-waiting'
  | 'vm-name-taken'
  | 'not-leader'
  | 'daemon-not-answering'
  | 'daemon-running'
  | 'roll-unfinished'
  | 'no-roll-to-resume'
  | 'hook-differs';

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

/**
 * An error whose message is already meant for the person at the terminal (the daemon cannot start:
 * a held state directory, a bad listen address; the CLI's UserError is one too): printed as one
 * line, no stack, and the process exits with `exitCode`.
 */
export class UserFacingError extends Error {
  constructor(
    message: string,
    /** The process's exit status: 2 for an invalid config, 1 otherwise. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
