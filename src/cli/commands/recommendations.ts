/** `virt-balancer recommendations`: planned moves waiting for approval (policy.automation manual or partial). */
import type { Command } from 'commander';
import { Session } from '../../controller/session.js';
import { action } from '../errors.js';
import { commandLogger } from '../logging.js';
import { recommendationJson, renderRecommendations } from '../format-recommendations.js';
import { out, outJson } from '../output.js';

export { recommendationJson } from '../format-recommendations.js';

export function register(program: Command): void {
  program
    .command('recommendations')
    .description('list planned moves waiting for approval (policy.automation manual or partial); approve them with `approve`')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--all', 'also show executed, refused, expired and superseded ones')
    .option('--json', 'print JSON')
    .action(
      action(async (options: { config: string; all?: boolean; json?: boolean }) => {
        const session = await Session.open(options.config, commandLogger('warn'));
        const store = session.recommendations();
        const list = (await store.list()).filter((r) => options.all || r.status === 'waiting');
        if (options.json) outJson(list.map(recommendationJson));
        else if (list.length === 0) {
          const level = session.config.policy.automation === 'full' ? ' (policy.automation is full: moves run without approval)' : '';
          out(`No recommendations ${options.all ? '' : 'waiting '}in ${store.file}${level}.\n`);
        } else {
          out(renderRecommendations(list));
          if (!options.all) out(`\nApprove one with: virt-balancer approve ID -c ${options.config}   (or --all)\n`);
        }
        await session.close();
      }),
    );
}
