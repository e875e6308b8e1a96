/** How `recommendations` prints the moves waiting for approval. */
import type { RecommendationView } from '../executor/recommendations.js';
import { table } from './format.js';

export { recommendationJson } from '../controller/json-shapes.js';

const when = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace(/\..*/, '');

/** The table of recommendations: id, status, move, predicted cost, expiry or end, reason. */
export function renderRecommendations(list: readonly RecommendationView[]): string {
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
  return `${table(['id', 'status', 'kind', 'vm', 'move', 'technique, predicted', 'expires / ended (UTC)', 'reason / detail'], rows)}\n`;
}
