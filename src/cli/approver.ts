/** Who approves, for the journal. */
import { userInfo } from 'node:os';

/** The user behind sudo when there is one, else the user running the command. */
export function approverName(): string {
  if (process.env.SUDO_USER) return process.env.SUDO_USER;
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
