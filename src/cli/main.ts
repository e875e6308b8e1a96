#!/usr/bin/env node
/**
 * virt-balancer command line. The commands are wired in program.ts, loaded only after `run`'s
 * signals are caught (early-signals.ts): loading every module takes seconds, and a SIGHUP in
 * that window must not end the daemon.
 */
import { catchEarlySignals } from './early-signals.js';

catchEarlySignals(process.argv);
await import('./program.js');
