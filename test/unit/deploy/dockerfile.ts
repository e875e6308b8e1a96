/**
 * Checking the Dockerfile without a Docker engine: parse it (dockerfile-ast), check its COPY
 * sources against the build context as .dockerignore filters it (@balena/dockerignore, Docker's
 * matching rules), and replay its file-system steps into a directory per stage.
 */
import { exec } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { isAbsolute, join, posix, relative } from 'node:path';
import { promisify } from 'node:util';
import * as dockerignoreModule from '@balena/dockerignore';
import type { Ignore } from '@balena/dockerignore';
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast';

const execAsync = promisify(exec);

// CommonJS whose types claim an ES default export: at run time the namespace's default is the factory.
const ignore = dockerignoreModule.default as unknown as () => Ignore;

export interface Step {
  keyword: string;
  line: number;
  /** Arguments as Docker sees them (JSON form decoded). */
  args: string[];
  /** The raw argument text (for RUN and HEALTHCHECK). */
  text: string;
  /** COPY --from=<stage>. */
  from?: string;
}

export interface Stage {
  name: string;
  image: string;
  steps: Step[];
}

function argsOf(instruction: Instruction): string[] {
  const json = (instruction as unknown as Partial<Copy>).getJSONStrings?.() ?? [];
  return json.length > 0 ? json.map((a) => a.getJSONValue()) : instruction.getArguments().map((a) => a.getValue());
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = argsOf(instruction);
    if (keyword === 'FROM') {
      stages.push({ image: args[0], name: args[2] ?? String(stages.length), steps: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`Dockerfile line ${instruction.getRange().start.line + 1}: ${keyword} before FROM`);
    const from = keyword === 'COPY' ? ((instruction as Copy).getFromFlag()?.getValue() ?? undefined) : undefined;
    stages.at(-1)!.steps.push({ keyword, line: instruction.getRange().start.line + 1, args, text: instruction.getArgumentsContent() ?? '', from });
  }
  return stages;
}

function filesUnder(dir: string, base: string): string[] {
  const path = join(dir, base);
  if (!statSync(path).isDirectory()) return [base];
  return readdirSync(path).flatMap((entry) => filesUnder(dir, posix.join(base, entry)));
}

/** Every problem with the Dockerfile against its build context; empty when it would build. */
export function dockerfileProblems(dockerfile: string, dockerignore: string, contextDir: string): string[] {
  const problems: string[] = [];
  const stages = parseDockerfile(dockerfile);
  const ignored = ignore().add(dockerignore.split('\n'));
  if (stages.length < 2) problems.push('not multi-stage: build in one stage, copy the result into a slim runtime stage');
  const names = new Set<string>();
  for (const stage of stages) {
    for (const step of stage.steps.filter((s) => s.keyword === 'COPY' || s.keyword === 'ADD')) {
      const sources = step.args.slice(0, -1);
      if (step.from !== undefined) {
        if (!names.has(step.from)) problems.push(`line ${step.line}: COPY --from=${step.from} names no earlier stage`);
        continue;
      }
      for (const source of sources) {
        const clean = posix.normalize(source).replace(/\/$/, '');
        if (isAbsolute(clean) || clean.startsWith('..')) {
          problems.push(`line ${step.line}: COPY source ${source} is outside the build context`);
        } else if (!existsSync(join(contextDir, clean))) {
          problems.push(`line ${step.line}: COPY source ${source} does not exist in the build context`);
        } else {
          const files = filesUnder(contextDir, clean);
          const excluded = files.filter((f) => ignored.ignores(f));
          if (excluded.length === files.length) problems.push(`line ${step.line}: COPY source ${source} is excluded by .dockerignore`);
          else if (excluded.length > 0)
            problems.push(`line ${step.line}: .dockerignore drops part of COPY source ${source}: ${excluded.slice(0, 3).join(', ')}`);
        }
      }
    }
    names.add(stage.name);
  }
  const runtime = stages.at(-1);
  const user = runtime?.steps.filter((s) => s.keyword === 'USER').at(-1)?.args[0];
  if (user === undefined) problems.push('the runtime stage has no USER: it would run as root');
  else if (/^(root|0)(:|$)/.test(user)) problems.push(`the runtime stage runs as ${user}: use a non-root user`);
  if (!runtime?.steps.some((s) => s.keyword === 'HEALTHCHECK' && /^CMD\b/.test(s.text))) problems.push('the runtime stage has no HEALTHCHECK CMD');
  return problems;
}

/**
 * Copy the build context as Docker would send it: every file .dockerignore does not exclude.
 * Directories are pruned when excluded and no "!" pattern reaches inside them.
 */
export function buildContext(sourceDir: string, dockerignore: string, destination: string): string[] {
  const lines = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const ignored = ignore().add(lines);
  const reIncluded = lines.filter((l) => l.startsWith('!')).map((l) => posix.normalize(l.slice(1)).replace(/\/$/, ''));
  const copied: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(sourceDir, rel), { withFileTypes: true })) {
      const path = rel ? posix.join(rel, entry.name) : entry.name;
      if (entry.isDirectory()) {
        if (!ignored.ignores(path) || reIncluded.some((p) => p.startsWith(`${path}/`))) walk(path);
        else if (reIncluded.some((p) => p === path)) walk(path);
      } else if (!ignored.ignores(path)) {
        mkdirSync(join(destination, rel), { recursive: true });
        cpSync(join(sourceDir, path), join(destination, path));
        copied.push(path);
      }
    }
  };
  walk('');
  return copied;
}

export interface Replay {
  /** Root directory of each stage's file system, by stage name. */
  roots: Map<string, string>;
  /** RUN parts that were not replayed (users, ownership): they need a real engine. */
  skipped: string[];
  /** The runtime stage's last WORKDIR. */
  workdir: string;
}

/**
 * Replay the Dockerfile's file-system steps (WORKDIR, COPY, and the RUN parts `npm ci`, `npx tsc`,
 * `mkdir -p`, `ln -s`) into one directory per stage, with absolute paths moved under it. User and
 * ownership commands are listed as skipped. What this proves: the context holds everything the
 * build needs and the runtime stage's layout runs; not that the base image or the engine agree.
 */
export async function replayBuild(dockerfile: string, contextDir: string, workDir: string): Promise<Replay> {
  const roots = new Map<string, string>();
  const skipped: string[] = [];
  let workdir = '/';
  for (const stage of parseDockerfile(dockerfile)) {
    const root = join(workDir, stage.name);
    mkdirSync(root, { recursive: true });
    roots.set(stage.name, root);
    workdir = '/';
    const inRoot = (path: string) => join(root, posix.resolve(workdir, path));
    for (const step of stage.steps) {
      if (step.keyword === 'WORKDIR') {
        workdir = posix.resolve(workdir, step.args[0]);
        mkdirSync(inRoot('.'), { recursive: true });
      } else if (step.keyword === 'COPY') {
        const sourceRoot = step.from === undefined ? contextDir : roots.get(step.from)!;
        const sources = step.args.slice(0, -1);
        const destination = step.args.at(-1)!;
        for (const source of sources) {
          const from = join(sourceRoot, source);
          // Docker: a file into a directory destination (ending in /) keeps its name; a directory's contents are copied.
          const to = destination.endsWith('/') && !statSync(from).isDirectory() ? join(inRoot(destination), posix.basename(source)) : inRoot(destination);
          mkdirSync(statSync(from).isDirectory() ? to : join(to, '..'), { recursive: true });
          cpSync(from, to, { recursive: true });
        }
      } else if (step.keyword === 'RUN') {
        for (const part of step.text.split('&&').map((p) => p.trim())) {
          const words = part.split(/\s+/);
          if ((words[0] === 'npm' && words[1] === 'ci') || (words[0] === 'npx' && words[1] === 'tsc')) {
            // Not execSync: a worker blocked for the minutes npm ci takes on a busy machine cannot answer vitest's RPC.
            await execAsync(part, { cwd: inRoot('.') });
          } else if (words[0] === 'mkdir' && words[1] === '-p') {
            for (const dir of words.slice(2)) mkdirSync(inRoot(dir), { recursive: true });
          } else if (words[0] === 'ln' && words[1] === '-s' && words.length === 4) {
            // The base image has the standard directories (/usr/local/bin); the empty replay root does not.
            mkdirSync(join(inRoot(words[3]), '..'), { recursive: true });
            symlinkSync(relative(join(inRoot(words[3]), '..'), inRoot(words[2])), inRoot(words[3]));
          } else {
            skipped.push(part);
          }
        }
      }
    }
  }
  return { roots, skipped, workdir };
}
