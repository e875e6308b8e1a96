#!/usr/bin/env node
/**
 * virt-balancer command line. The commands are wired in program.ts, loaded only after `run`'s
 * signals are caught (early-signals.ts): loading every module takes seconds, and a SIGHUP in
 * that window must not end the daemon.
 */
import { catchEarlySignals } from './early-signals.js';

catchEarlySignals(process.argv);
// A reader that stops early (`virt-balancer plan | head`) closes the pipe: the rest of the output
// has nowhere to go, which is what the user asked for, not a crash with a stack trace. The command
// goes on without its output (a drain under way still runs its moves and ends with its own status).
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
await import('./program.js');
