/**
 * The Dockerfile, without a Docker engine (none on these machines): its structure and build
 * context are checked, and its file-system steps are replayed so the runtime layout is started
 * with the image's ENTRYPOINT and probed with its HEALTHCHECK command.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildContext, dockerfileProblems, parseDockerfile, replayBuild, type Replay } from './dockerfile.js';
import { repoRoot } from './tools.js';

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('Dockerfile checks', () => {
  it('has no problems: multi-stage, every COPY source in the context and not ignored, non-root USER, HEALTHCHECK', () => {
    expect(dockerfileProblems(dockerfile, dockerignore, repoRoot)).toEqual([]);
  });

  it('the runtime stage is slim Node 20, runs as uid 10001 and starts `run` with the service config', () => {
    const stages = parseDockerfile(dockerfile);
    const runtime = stages.at(-1)!;
    expect(runtime.image).toMatch(/^node:20-(bookworm-)?slim$/);
    expect(runtime.steps.filter((s) => s.keyword === 'USER').at(-1)!.args).toEqual(['10001:10001']);
    const entrypoint = runtime.steps.find((s) => s.keyword === 'ENTRYPOINT')!.args;
    const cmd = runtime.steps.find((s) => s.keyword === 'CMD')!.args;
    expect([...entrypoint, ...cmd].join(' ')).toBe('virt-balancer run --config /etc/virt-balancer/config.yaml');
    // No compilers in the image that runs.
    expect(
      runtime.steps
        .filter((s) => s.keyword === 'RUN')
        .map((s) => s.text)
        .join('\n'),
    ).not.toMatch(/apt-get|gcc|make|tsc/);
  });

  it('the checker reports a missing source, an ignored source, a root user, no health check and a single stage', () => {
    const bad = [
      'FROM node:20-slim',
      'COPY package.json no-such-file ./',
      'COPY node_modules ./node_modules',
      'COPY --from=nowhere /x /y',
      'USER root',
      '',
    ].join('\n');
    expect(dockerfileProblems(bad, dockerignore, repoRoot)).toEqual([
      'not multi-stage: build in one stage, copy the result into a slim runtime stage',
      'line 2: COPY source no-such-file does not exist in the build context',
      'line 3: COPY source node_modules is excluded by .dockerignore',
      'line 4: COPY --from=nowhere names no earlier stage',
      'the runtime stage runs as root: use a non-root user',
      'the runtime stage has no HEALTHCHECK CMD',
    ]);
    // Docker's own matching: a later "!" pattern re-includes, a pattern without one excludes part of a tree.
    expect(dockerfileProblems('FROM a AS b\nFROM c\nCOPY src /s\nUSER 1\nHEALTHCHECK CMD true\n', '*\n!src\nsrc/cli\n', repoRoot)).toEqual([
      expect.stringMatching(/^line 3: \.dockerignore drops part of COPY source src: src\/cli\//),
    ]);
  });
});

describe('Dockerfile replayed without an engine', () => {
  let replay: Replay;
  let runtimeRoot: string;
  let contextFiles: string[];
  beforeAll(async () => {
    // The context as Docker would send it, then the steps.
    const work = mkdtempSync(join(tmpdir(), 'vb-docker-'));
    contextFiles = buildContext(repoRoot, dockerignore, join(work, 'context'));
    replay = await replayBuild(dockerfile, join(work, 'context'), join(work, 'stages'));
    runtimeRoot = replay.roots.get([...replay.roots.keys()].at(-1)!)!;
  }, 600_000);

  it('sends a small context: sources and lock files, no node_modules, dist, .git or lab state', () => {
    expect(contextFiles).toContain('package-lock.json');
    expect(contextFiles).toContain('src/cli/main.ts');
    expect(contextFiles.filter((f) => /^(node_modules|dist|\.git|bench|docs)\//.test(f))).toEqual([]);
    // Only what the Dockerfile copies (a count bound broke as the sources grew; this does not).
    const allowed =
      /^(src|policies)\/|^(package\.json|package-lock\.json|tsconfig\.json|deploy\/config\/virt-balancer\.example\.yaml|deploy\/bin\/virt-balancer\.mjs)$/;
    expect(contextFiles.filter((f) => !allowed.test(f))).toEqual([]);
  });

  it('builds: dist from tsc in the build stage, production dependencies and the config in the runtime stage', () => {
    expect(replay.workdir).toBe('/opt/virt-balancer');
    expect(existsSync(join(runtimeRoot, 'opt/virt-balancer/dist/src/cli/main.js'))).toBe(true);
    expect(existsSync(join(runtimeRoot, 'opt/virt-balancer/dist/policies/balance.js'))).toBe(true);
    expect(existsSync(join(runtimeRoot, 'opt/virt-balancer/node_modules/tsx'))).toBe(true);
    expect(existsSync(join(runtimeRoot, 'opt/virt-balancer/node_modules/typescript'))).toBe(false);
    expect(existsSync(join(runtimeRoot, 'etc/virt-balancer/config.yaml'))).toBe(true);
    expect(existsSync(join(runtimeRoot, 'etc/virt-balancer/node_modules/virt-balancer/package.json'))).toBe(true);
    // `virt-balancer` on PATH (/usr/local/bin in the node image) is the launcher, executable.
    expect(realpathSync(join(runtimeRoot, 'usr/local/bin/virt-balancer'))).toBe(join(runtimeRoot, 'opt/virt-balancer/bin/virt-balancer.mjs'));
    expect(statSync(join(runtimeRoot, 'opt/virt-balancer/bin/virt-balancer.mjs')).mode & 0o111).toBe(0o111);
    // Only these need a real engine.
    expect(replay.skipped.map((s) => s.split(' ')[0])).toEqual(['npm', 'groupadd', 'useradd', 'chown', 'chmod']);
  });

  it('nothing of the lab is in the context or the image, and the installed program has no `demo` (it is `npm run demo` in a clone)', () => {
    expect(contextFiles.filter((f) => f.startsWith('lab/'))).toEqual([]);
    for (const root of replay.roots.values())
      expect(existsSync(join(root, 'src/lab')) || existsSync(join(root, 'opt/virt-balancer/dist/lab')), root).toBe(false);
    const help = spawnSync(join(runtimeRoot, 'usr/local/bin/virt-balancer'), ['--help'], {
      cwd: join(runtimeRoot, replay.workdir),
      encoding: 'utf8',
      timeout: 50_000,
      env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` },
    });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('simulate');
    expect(help.stdout).not.toMatch(/^\s+demo\b/m);
  }, 60_000);

  it('the ENTRYPOINT runs the controller, and the HEALTHCHECK command passes against it (and fails when it is gone)', async () => {
    const runtime = parseDockerfile(dockerfile).at(-1)!;
    const port = await freePort();
    const config = join(runtimeRoot, 'etc/virt-balancer/test.yaml');
    mkdirSync(join(runtimeRoot, 'state'), { recursive: true });
    // Nothing listens on port 1: the host is down, the loop still ticks.
    writeFileSync(
      config,
      `hosts: [ { name: gone, uri: "qemu+tcp://127.0.0.1:1/system" } ]\nloop: { schedule: "* * * * * *" }\nmetrics: { listen: "127.0.0.1:${port}" }\nstateDir: ${join(runtimeRoot, 'state')}\nlog: { level: warn }\n`,
    );
    const entrypoint = runtime.steps.find((s) => s.keyword === 'ENTRYPOINT')!.args;
    expect(entrypoint).toEqual(['virt-balancer']);
    // PATH lookup in the image: /usr/local/bin/virt-balancer, a script run by its #!/usr/bin/env node.
    const child = spawn(join(runtimeRoot, 'usr/local/bin/virt-balancer'), ['run', '--config', config], {
      cwd: join(runtimeRoot, replay.workdir),
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` },
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const health = runtime.steps.find((s) => s.keyword === 'HEALTHCHECK')!;
    const probe = JSON.parse(health.text.replace(/^CMD\s+/, '')) as string[];
    expect(probe[0]).toBe('node');
    const probeArgs = probe.slice(1).map((a) => a.replace('127.0.0.1:9464', `127.0.0.1:${port}`));
    try {
      let status: number | null = null;
      for (let attempt = 0; attempt < 40 && status !== 0; attempt++) {
        await new Promise((r) => setTimeout(r, 500));
        status = spawnSync(process.execPath, probeArgs, { timeout: 10_000 }).status;
      }
      expect(status, output).toBe(0);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    expect(spawnSync(process.execPath, probeArgs, { timeout: 10_000 }).status).toBe(1);
  }, 60_000);
});
