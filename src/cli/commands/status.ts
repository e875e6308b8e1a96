/** `virt-balancer status`: hosts and their VMs with CPU and memory use, as a table or JSON. */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { rollStatusLine } from '../../controller/workflows/maintenance-roll.js';
import { markPowerStates } from '../../power/decide.js';
import { PowerStates } from '../../power/states.js';
import { action, UserError } from '../errors.js';
import { renderStatus, statusJson } from '../format-status.js';
import { commandLogger, logLevelOption } from '../logging.js';
import { out, outJson } from '../output.js';

export { statusJson } from '../format-status.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('show hosts and their VMs with CPU and memory use (samples for about 2 s)')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .option('--sample-seconds <s>', 'seconds between the two samples rates are computed from', '2')
    .addOption(logLevelOption())
    .action(
      action(async (options: { config: string; json?: boolean; sampleSeconds: string; logLevel: string }) => {
        const session = await Session.open(options.config, commandLogger(options.logLevel));
        let state;
        let roll: string | undefined;
        try {
          // Power states as the controller journaled them (a missing state directory: none), read
          // first so a standby host's unreachability is logged at debug, not as a warning.
          const powerStates = new PowerStates(await session.planningEntries({ optional: true }));
          const expectedDown = new Set(powerStates.notAwake().keys());
          roll = rollStatusLine(await session.planningEntries({ optional: true }));
          state = markPowerStates(await session.collect({ sampleIntervalMs: Number(options.sampleSeconds) * 1000, expectedDown }), powerStates);
        } finally {
          await session.close();
        }
        if (options.json) outJson({ ...statusJson(state), ...(roll ? { maintenance: roll } : {}) });
        else out(`${renderStatus(state)}${roll ? `${roll}\n` : ''}`);
        // Scripts read exit 0 as "the cluster answered": say so only when some host did.
        if (!state.hosts.some((h) => h.up) && !state.hosts.every((h) => h.power))
          throw new UserError(`no host could be read (${state.hosts.map((h) => h.name).join(', ')}: reasons above)`, 1);
      }),
    );
}
