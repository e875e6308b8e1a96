/**
 * The commands wired together (loaded by main.ts after it has caught `run`'s early signals). Each
 * command lives in its own module under commands/ and exports `register(program)`.
 */
import { Command } from 'commander';
// Built-in policies register themselves (src/policy/registry.ts).
import '../../policies/index.js';
import * as approve from './commands/approve.js';
import * as checkConfig from './commands/check-config.js';
import * as drain from './commands/drain.js';
import * as history from './commands/history.js';
import * as maintenance from './commands/maintenance.js';
import * as migrate from './commands/migrate.js';
import * as place from './commands/place.js';
import * as plan from './commands/plan.js';
import * as recommendations from './commands/recommendations.js';
import * as run from './commands/run.js';
import * as simulate from './commands/simulate.js';
import * as status from './commands/status.js';

const program = new Command();
program.name('virt-balancer').description('Load-balancing controller for KVM/QEMU hosts managed by libvirt').version('0.1.0');

// Command modules add themselves here (one import + one call each).
run.register(program);
status.register(program);
migrate.register(program);
plan.register(program);
drain.register(program);
maintenance.register(program);
history.register(program);
recommendations.register(program);
approve.register(program);
place.register(program);
simulate.register(program);
checkConfig.register(program);

await program.parseAsync(process.argv);
