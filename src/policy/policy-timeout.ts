/**
 * A policy call that ran past policy.policyTimeoutMs (or was not made because an earlier call of
 * the same policy in this plan did). Its own class so the framework reports it as a timeout in the
 * plan (Plan.timeouts), not only as an error: a plan missing a policy's answer is incomplete.
 */
export class PolicyTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyTimeoutError';
  }
}
