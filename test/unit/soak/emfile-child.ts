/**
 * Run under a low `ulimit -n` by soak.test.ts: journal once (its descriptor stays open), start the
 * metrics endpoint capped well under the limit, take every descriptor left (as a connection flood
 * or a leak elsewhere in the process would), then journal again and report what happened as JSON.
 */
import { openSync } from 'node:fs';
import { Registry } from 'prom-client';
import { Journal } from '../../../src/history/journal.js';
import { startMetricsServer } from '../../../src/metrics/server.js';

const [stateDir, port] = process.argv.slice(2);
const journal = new Journal(stateDir, { retryDelaysMs: [10], backgroundRetryMs: 60_000 });
const entry = (n: number) => ({
  type: 'outcome' as const,
  atMs: n,
  vm: `vm${n}`,
  vmUuid: `u${n}`,
  from: 'a',
  to: 'b',
  technique: 'precopy',
  outcome: 'completed',
});
await journal.appendDurably(entry(0));
const server = await startMetricsServer(`127.0.0.1:${port}`, new Registry(), () => ({ ok: true, detail: {} }), { maxConnections: 8 });
const hogged: number[] = [];
let emfile = false;
try {
  for (;;) hogged.push(openSync('/dev/null', 'r'));
} catch (e) {
  emfile = (e as NodeJS.ErrnoException).code === 'EMFILE';
}
const written: string[] = [];
const failed: string[] = [];
for (let i = 1; i <= 5; i++)
  await journal.appendDurably(entry(i)).then(
    () => written.push(`u${i}`),
    (e: Error) => failed.push(e.message),
  );
process.stdout.write(`${JSON.stringify({ emfile, hogged: hogged.length, written, failed, writable: journal.writable })}\n`);
server.close();
process.exit(0);
