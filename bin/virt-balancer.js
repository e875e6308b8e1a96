#!/usr/bin/env node
// In a clone (src/ present) runs the TypeScript sources through tsx, so a stale dist/ never runs
// old code; an install without sources runs the compiled dist/. tsx is registered either way so
// custom policies written in TypeScript load like the built-ins.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// `run`: SIGHUP, SIGTERM... are caught from here on, before tsx and the CLI load (seconds on a busy
// machine), and handed to run's own handlers then (src/cli/early-signals.ts, the same global).
const EARLY = Symbol.for('virt-balancer.early-signals');
globalThis[EARLY] ??= { received: [], handlers: new Map() };
const early = globalThis[EARLY];
if (process.argv.slice(2).find((a) => !a.startsWith('-')) === 'run') {
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM']) {
    const handler = () => early.received.push(signal);
    early.handlers.set(signal, handler);
    process.on(signal, handler);
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src/cli/main.ts');
await import('tsx');
await import(pathToFileURL(existsSync(source) ? source : join(root, 'dist/src/cli/main.js')).href);
