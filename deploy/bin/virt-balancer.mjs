#!/usr/bin/env node
// The installed `virt-balancer` command (deploy/install.sh puts it in /opt/virt-balancer/bin and
// links /usr/local/bin/virt-balancer to it; the Dockerfile likewise). It runs the compiled CLI in
// ../dist with tsx registered, so custom policies in policy.policyDirs may be TypeScript files.
// Importing 'tsx' does what `node --import tsx` does (ESM and CommonJS hooks: a policy directory
// without a package.json is CommonJS scope), but resolves tsx from this file's own node_modules, so
// the command works from any working directory.

// `run`: SIGHUP, SIGTERM... are caught from here on, before tsx and the CLI load (seconds on a busy
// machine; until then Node's default ends the process on SIGHUP, silently), and handed to run's own
// handlers then (src/cli/early-signals.ts, the same global). Imports below are dynamic so this runs first.
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

await import('tsx');
await import('../dist/src/cli/main.js');
