/** Turning failures into one clear line for the person at the terminal (no stack traces for user errors). */
import { ConfigError } from '../config/index.js';
import { ControlError } from '../controller/control-client.js';
import { RequestRefused, UserFacingError } from '../controller/errors.js';
import { LibvirtError } from '../libvirt/index.js';
import { err } from './output.js';

/** An error whose message is already meant for the user (controller/errors.ts UserFacingError, named for the CLI). */
export class UserError extends UserFacingError {}

export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof ConfigError) return { message: error.message, exitCode: 2 };
  if (error instanceof RequestRefused) return { message: error.message, exitCode: 1 };
  if (error instanceof ControlError) return { message: error.message, exitCode: 1 };
  if (error instanceof UserFacingError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof LibvirtError) return { message: `libvirt error ${error.codeName} (${error.domainName}): ${error.message}`, exitCode: 1 };
  const e = error as Error;
  return { message: `${e?.message ?? String(error)}${process.env.VB_DEBUG ? `\n${e?.stack}` : ' (set VB_DEBUG=1 for a stack trace)'}`, exitCode: 1 };
}

/** Wrap a commander action so errors print as one line and set the exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      const { message, exitCode } = describeError(error);
      err(`virt-balancer: ${message}\n`);
      process.exitCode = exitCode;
    }
  };
}
