/** `virt-balancer recommendations`: planned moves waiting for approval (policy.automation manual or partial). */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { RecommendationStore, type RecommendationView } from '../../executor/recommendations.js';
import { action } from '../errors.js';
import { table } from '../format.js';
import { out, outJson } from '../output.js';

const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\..*/, '');

/** The JSON shape of one recommendation (`recommendations --json`). */
export function recommendationJson(r: RecommendationView) {
  return {
    id: r.id,
    status: r.status,
    kind: r.kind,
    vm: r.move.vmName,
    from: r.move.from,
    to: r.move.to,
    technique: r.move.technique,
    predicted: { totalSeconds: r.move.predicted.totalSeconds, downtimeMs: r.move.predicted.downtimeMs },
    reason: r.move.reason,
    createdAt: new Date(r.createdAtMs).toISOString(),
    expiresAt: new Date(r.expiresAtMs).toISOString(),
    ...(r.resolution ? { resolution: { at: new Date(r.resolution.atMs).toISOString(), by: r.resolution.by, detail: r.resolution.detail } } : {}),
  };
}

export function register(program: Command): void {
  program
    .command('recommendations')
    .description('list planned moves waiting for approval (policy.automation manual or partial); approve them with `approve`')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--all', 'also show executed, refused, expired and superseded ones')
    .option('--json', 'print JSON')
    .action(
      action(async (options: { config: string; all?: boolean; json?: boolean }) => {
        const config = await loadConfig(options.config);
        const store = new RecommendationStore(config.stateDir);
        const list = (await store.list()).filter((r) => options.all || r.status === 'waiting');
        if (options.json) {
          outJson(list.map(recommendationJson));
          return;
        }
        if (list.length === 0) {
          const level = config.policy.automation === 'full' ? ' (policy.automation is full: moves run without approval)' : '';
          out(`No recommendations ${options.all ? '' : 'waiting '}in ${store.file}${level}.\n`);
          return;
        }
        const rows = list.map((r) => [
          r.id,
          r.status,
          r.kind,
          r.move.vmName,
          `${r.move.from} -> ${r.move.to}`,
          `${r.move.technique} ~${r.move.predicted.totalSeconds.toFixed(1)} s, ${r.move.predicted.downtimeMs.toFixed(0)} ms down`,
          r.status === 'waiting'
            ? when(r.expiresAtMs)
            : r.resolution
              ? `${when(r.resolution.atMs)}${r.resolution.by ? ` by ${r.resolution.by}` : ''}`
              : when(r.expiresAtMs),
          r.status === 'waiting' ? r.move.reason : (r.resolution?.detail ?? r.move.reason),
        ]);
        out(table(['id', 'status', 'kind', 'vm', 'move', 'technique, predicted', 'expires / ended (UTC)', 'reason / detail'], rows) + '\n');
        if (!options.all) out(`\nApprove one with: virt-balancer approve ID -c ${options.config}   (or --all)\n`);
      }),
    );
}
