/** The state-directory check for the commands that read or write it besides `run` (which checks it while locking it). */
import { checkStateDir, StateDirError } from '../ha/state-dir.js';
import { UserError } from './errors.js';

/**
 * Check stateDir (src/ha/state-dir.ts: owner, mode, no symlink, a real filesystem), creating it
 * when `create` (a command that writes the journal) — before anything is read from or written to it.
 * @throws UserError naming stateDir, the reason and the fix.
 */
export async function checkedStateDir(stateDir: string, options: { create: boolean }): Promise<void> {
  try {
    await checkStateDir(stateDir, options);
  } catch (error) {
    if (error instanceof StateDirError) throw new UserError(error.message);
    throw error;
  }
}
