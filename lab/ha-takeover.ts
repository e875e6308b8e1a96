/**
 * Measure failover: two `run` controllers with `ha:` against a fresh three-member etcd on
 * loopback and the lab's hosts (the lab must be up: `npm run lab -- up`); N times, SIGKILL the
 * leader and time until the standby logs 'became leader' (its log timestamp minus the kill), then
 * start the killed one again as the new standby. Prints each time, the median and the worst.
 *
 *   VB_LAB_DIR=... VB_LAB_ADDRESS_PREFIX=... VB_ETCD_DIR=... npx tsx test/lab/ha-takeover.ts [runs=5] [leaseTtlSeconds=10]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { EtcdCluster } from './etcd.js';
import { labPaths } from './paths.js';
import { RunProcess } from './run-process.js';
import { sleep } from './run.js';

const runs = Number(process.argv[2] ?? 5);
const leaseTtlSeconds = Number(process.argv[3] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'vb-takeover-'));
const etcd = new EtcdCluster();
const base = parse(readFileSync(labPaths().configFile, 'utf8')) as Record<string, unknown>;

function start(name: string): RunProcess {
  const configFile = join(dir, `${name}.yaml`);
  const stateDir = join(dir, `state-${name}`);
  writeFileSync(
    configFile,
    stringify({
      ...base,
      stateDir,
      metrics: { listen: '' },
      loop: { schedule: '*/2 * * * * *' },
      ha: { endpoints: etcd.endpoints, electionName: 'takeover', leaseTtlSeconds, memberName: name },
    }),
  );
  return new RunProcess(name, configFile, join(stateDir, 'journal.jsonl'));
}

async function main(): Promise<void> {
  await etcd.startFresh();
  const procs = new Map<string, RunProcess>([
    ['a', start('a')],
    ['b', start('b')],
  ]);
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      let leader: string | undefined;
      const until = Date.now() + 90_000;
      while (!leader) {
        // The current leader: the last 'became leader' among the live processes.
        const terms = [...procs].flatMap(([n, p]) => p.logged('became leader').map((l) => ({ n, t: l.time as number })));
        const latest = terms.sort((x, y) => y.t - x.t)[0];
        if (latest && procs.get(latest.n)!.child.exitCode === null && procs.get(latest.n)!.child.signalCode === null) leader = latest.n;
        if (Date.now() > until) throw new Error('no leader within 90 s');
        if (!leader) await sleep(200);
      }
      const standby = leader === 'a' ? 'b' : 'a';
      // Let the standby finish starting (it campaigns once connected).
      await procs.get(standby)!.waitFor('virt-balancer running', 90_000);
      await sleep(3000);
      const killedAt = Date.now();
      procs.get(leader)!.child.kill('SIGKILL');
      await procs.get(leader)!.exited();
      const elected = await procs.get(standby)!.waitFor('became leader', 60_000, killedAt);
      const ms = (elected.time as number) - killedAt;
      times.push(ms);
      console.log(`run ${i + 1}: ${leader} killed, ${standby} leads after ${ms} ms`);
      procs.set(leader, start(leader));
    }
  } finally {
    for (const p of procs.values()) await p.stop();
    await etcd.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const sorted = [...times].sort((x, y) => x - y);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(
    `takeover after SIGKILL (leaseTtlSeconds ${leaseTtlSeconds}, ${times.length} runs): median ${median} ms, worst ${sorted[sorted.length - 1]} ms, all ${times.join(', ')} ms`,
  );
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
