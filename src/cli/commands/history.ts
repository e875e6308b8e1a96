/** `virt-balancer history`: the journal of decisions and outcomes, newest last. */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { action, UserError } from '../errors.js';
import { table } from '../format.js';
import { describeEntry } from '../format-history.js';
import { commandLogger } from '../logging.js';
import { out, outJson } from '../output.js';

export { describeEntry } from '../format-history.js';

export function register(program: Command): void {
  program
    .command('history')
    .description('show the journal of planned moves, admissions and migration outcomes')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--json', 'print JSON lines as an array')
    .option('--limit <n>', 'last N entries', '50')
    .action(
      action(async (options: { config: string; json?: boolean; limit: string }) => {
        const session = await Session.open(options.config, commandLogger('warn'));
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1)
          throw new UserError(`--limit is ${JSON.stringify(options.limit)}; give a whole number of entries, 1 or more (default 50)`);
        try {
          const journal = session.journal();
          const entries = (await journal.read()).slice(-limit);
          if (options.json) outJson(entries);
          else if (entries.length === 0) out(`No journal entries yet in ${journal.file}.\n`);
          else out(`${table(['time (UTC)', 'event', 'vm', 'move', 'detail'], entries.map(describeEntry))}\n`);
        } finally {
          await session.close();
        }
      }),
    );
}
