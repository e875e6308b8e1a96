/**
 * check-config's check of the power commands' programs: each must exist and be executable by this
 * user, or the first power-off fails (ENOENT, EACCES) long after the config was accepted. A bare
 * name is looked up on PATH as execFile does; relative paths are refused by the schema.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/** One problem, as ConfigProblem (path like `power.powerOffCommand[0]`). */
export interface PowerProgramProblem {
  path: string;
  message: string;
}

/** Why `file` cannot be run, or undefined when it can. */
async function executableProblem(file: string): Promise<string | undefined> {
  try {
    const st = await stat(file);
    if (!st.isFile()) return `${file} is not a file`;
    await access(file, constants.X_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `${file} does not exist`;
    if (code === 'EACCES') return `${file} is not executable by this user (uid ${process.getuid?.() ?? '?'}); chmod +x it, or run it through its interpreter`;
    return `${file} cannot be checked: ${(e as Error).message}`;
  }
}

/**
 * The power commands' programs (`power.powerOffCommand[0]`, `power.powerOnCommand[0]`) that do not
 * exist or are not executable. `power` is the `power:` mapping, valid or as written (fields of the
 * wrong type are skipped: the schema reports them); `pathEnv` is the PATH bare names are looked up on.
 */
export async function powerProgramProblems(power: unknown, pathEnv = process.env.PATH ?? ''): Promise<PowerProgramProblem[]> {
  const problems: PowerProgramProblem[] = [];
  const p = power && typeof power === 'object' ? (power as Record<string, unknown>) : {};
  for (const field of ['powerOffCommand', 'powerOnCommand'] as const) {
    const argv = p[field];
    const program = Array.isArray(argv) ? argv[0] : undefined;
    if (typeof program !== 'string' || program === '') continue;
    const path = `power.${field}[0]`;
    if (isAbsolute(program)) {
      const problem = await executableProblem(program);
      if (problem) problems.push({ path, message: `${problem}; give the program's absolute path, or a bare name found on PATH` });
      continue;
    }
    if (program.includes('/')) continue; // relative: refused by the schema
    const dirs = pathEnv.split(delimiter).filter((d) => isAbsolute(d));
    let found = false;
    for (const dir of dirs) if (!found && (await executableProblem(join(dir, program))) === undefined) found = true;
    if (!found)
      problems.push({
        path,
        message: `${program} is not found on this user's PATH; install it, or give its absolute path (the service's PATH may differ from your shell's)`,
      });
  }
  return problems;
}
