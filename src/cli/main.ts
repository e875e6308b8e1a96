#!/usr/bin/env node
/**
 * virt-balancer command line. Each command lives in its own module under commands/ and exports
 * `register(program)`; this file only wires them together.
 */
import { Command } from 'commander';
import * as migrate from './commands/migrate.js';
import * as run from './commands/run.js';
import * as status from './commands/status.js';

const program = new Command();
program
  .name('virt-balancer')
  .description('Load-balancing controller for KVM/QEMU hosts managed by libvirt')
  .version('0.1.0');

// Command modules add themselves here (one import + one call each).
run.register(program);
status.register(program);
migrate.register(program);

await program.parseAsync(process.argv);
