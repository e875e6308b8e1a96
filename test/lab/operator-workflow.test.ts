/**
 * The operator workflow end to end against the lab, sharing one small guest: with
 * policy.automation manual, `run --once` records the maintenance drain of lab1 as a recommendation
 * and moves nothing; `place` accepts the host `plan` would send the VM to and refuses lab1 (in
 * maintenance); `approve` re-checks it, executes it and journals who approved and the outcome;
 * a webhook receiver on loopback gets the signed migration.started and migration.completed events
 * of that real migration. Approving it again is refused.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, labFromEnv } from '../../lab/lab.js';

const execFileAsync = promisify(execFile);
const VM = 'ow-vm1';
const SOURCE = 'lab1';
const SECRET = 'lab-webhook-secret';
/** The webhook receiver listens on the lab's own loopback prefix (never another developer's address). */
const RECEIVER_ADDRESS = `${process.env.VB_LAB_ADDRESS_PREFIX ?? '127.0.0.'}200`;

let lab: Lab;
let dir: string;
let config: string;
let server: Server;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

async function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--config', config], { timeout: 240_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : -1 };
  }
}

describe('operator workflow against the lab', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-operator-'));
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, RECEIVER_ADDRESS, r));
    const url = `http://${RECEIVER_ADDRESS}:${(server.address() as AddressInfo).port}/hook`;
    const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as { hosts: { name: string; maintenance?: boolean }[] } & Record<string, unknown>;
    const hosts = base.hosts.map((h) => (h.name === SOURCE ? { ...h, maintenance: true } : h));
    config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      stringify({
        ...base,
        hosts,
        stateDir: join(dir, 'state'),
        metrics: { listen: '' },
        policy: { automation: 'manual', recommendationExpirySeconds: 900, bandwidthMiBps: 250 },
        notifications: {
          webhooks: [
            {
              url,
              secret: SECRET,
              events: ['migration.started', 'migration.completed', 'migration.failed', 'migration.aborted'],
              timeoutSeconds: 5,
              retries: 2,
            },
          ],
        },
      }),
    );
    await lab.createVm({ name: VM, host: SOURCE, vcpus: 1, memoryMiB: 128, cpuBusyPercent: 10, dirtyMiBps: 1, workloadMiB: 16 });
  });

  afterAll(async () => {
    await lab?.destroyVm(VM).catch(() => {});
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('manual mode recommends, place agrees with plan, approve executes and journals, the webhook arrives signed', async () => {
    // 1. One tick in manual mode: the drain of lab1 is recommended, nothing moves.
    const tick = await cli(['run', '--once', '--log-level', 'warn']);
    expect(tick.code, tick.stderr).toBe(0);
    expect(await lab.whereIs(VM)).toBe(SOURCE);
    const listed = await cli(['recommendations', '--json']);
    const waiting = (JSON.parse(listed.stdout) as { id: string; status: string; kind: string; vm: string; from: string; to: string }[]).filter(
      (r) => r.vm === VM,
    );
    expect(waiting, listed.stdout).toHaveLength(1);
    const [rec] = waiting;
    expect([rec.status, rec.kind, rec.from]).toEqual(['waiting', 'must-move', SOURCE]);
    expect(['lab2', 'lab3']).toContain(rec.to);
    expect(received).toHaveLength(0);

    // 2. place judges the lab hosts as plan does: plan's target is one place accepts; lab1 is refused.
    const planned = JSON.parse((await cli(['plan', '--json'])).stdout) as { moves: { vm: string; to: string }[] };
    const planTarget = planned.moves.find((m) => m.vm === VM)?.to;
    expect(['lab2', 'lab3']).toContain(planTarget);
    const placed = await cli(['place', '--vcpus', '1', '--memory-mib', '128', '--json']);
    expect(placed.code, placed.stderr).toBe(0);
    const placement = JSON.parse(placed.stdout) as { host: string | null; hosts: { host: string; accepted: boolean; reason?: string }[] };
    expect(placement.hosts.filter((h) => h.accepted).map((h) => h.host)).toContain(planTarget);
    expect(placement.hosts.find((h) => h.host === SOURCE)).toMatchObject({ accepted: false, reason: `${SOURCE} is in maintenance` });
    expect(['lab2', 'lab3']).toContain(placement.host);

    // 3. Approve: re-checked, executed, journaled with who and the outcome.
    const approved = await cli(['approve', rec.id, '--by', 'lab-operator', '--json']);
    expect(approved.code, `${approved.stdout}\n${approved.stderr}`).toBe(0);
    expect(JSON.parse(approved.stdout)).toEqual([expect.objectContaining({ id: rec.id, decision: 'executed', outcome: 'completed', to: rec.to })]);
    expect(await lab.whereIs(VM)).toBe(rec.to);
    const history = JSON.parse((await cli(['history', '--json', '--limit', '200'])).stdout) as {
      type: string;
      id?: string;
      by?: string;
      decision?: string;
      outcome?: string;
      vm: string;
    }[];
    const types = history.filter((e) => e.vm === VM).map((e) => e.type);
    expect(types).toContain('recommended');
    expect(types.indexOf('recommended')).toBeLessThan(types.indexOf('started'));
    expect(history.find((e) => e.type === 'approval' && e.id === rec.id)).toMatchObject({ by: 'lab-operator', decision: 'executed', outcome: 'completed' });
    expect(history.some((e) => e.type === 'outcome' && e.vm === VM && e.outcome === 'completed')).toBe(true);

    // 4. The receiver got the real migration's events, signed with the secret.
    const events = received.map((r) => ({
      ...r,
      json: JSON.parse(r.body) as { event: string; data: { vm: string; from: string; to: string; outcome?: string } },
    }));
    expect(events.map((e) => e.json.event)).toEqual(['migration.started', 'migration.completed']);
    for (const e of events) {
      expect(e.json.data).toMatchObject({ vm: VM, from: SOURCE, to: rec.to });
      expect(e.headers['x-virt-balancer-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(e.body).digest('hex')}`);
    }
    expect(events[1].json.data.outcome).toBe('completed');

    // 5. The same recommendation cannot be carried out twice.
    const again = await cli(['approve', rec.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`recommendation ${rec.id} (${VM} ${SOURCE} -> ${rec.to}) not executed: it is already executed`);
  });
});
