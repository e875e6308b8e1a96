/**
 * The daemon's HTTP API against the lab: `run` with policy.automation manual and lab1 in
 * maintenance records the move of one small guest off lab1 as a recommendation; the API lists it,
 * shows the guest in status and the move in plan, and place refuses lab1 (in maintenance); it
 * refuses an approval without credentials or with a wrong token (the guest stays), then approves
 * it with a token: the daemon's own executor runs the real migration, the answer says it
 * completed, the guest is on the target with its memory intact (heartbeat), and the journal's
 * approval entry says who (`api:<token name>`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { type Lab, labFromEnv } from '../../lab/lab.js';

const VM = 'api-vm1';
const SOURCE = 'lab1';
const TOKEN = 'lab-api-token-0123456789abcdef';
const PREFIX = process.env.VB_LAB_ADDRESS_PREFIX ?? '127.0.0.';
const LISTEN = `${PREFIX}203:${21_000 + (process.pid % 10_000)}`;
const BASE = `http://${LISTEN}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });

let lab: Lab;
let dir: string;
let config: string;
let daemon: ChildProcess | undefined;
let daemonLog = '';

describe('approve over the HTTP API against the lab', () => {
  beforeAll(async () => {
    lab = await labFromEnv();
    dir = mkdtempSync(join(tmpdir(), 'vb-api-'));
    const tokenFile = join(dir, 'api-tokens');
    writeFileSync(tokenFile, `lab-ops:${TOKEN}\n`, { mode: 0o600 });
    const base = parse(readFileSync(inject('labConfigPath'), 'utf8')) as { hosts: { name: string }[] } & Record<string, unknown>;
    config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      stringify({
        ...base,
        hosts: base.hosts.map((h) => (h.name === SOURCE ? { ...h, maintenance: true } : h)),
        stateDir: join(dir, 'state'),
        loop: { schedule: '*/3 * * * * *', dryRun: false },
        metrics: { listen: '' },
        policy: { automation: 'manual', recommendationExpirySeconds: 900, bandwidthMiBps: 250 },
        api: { listen: LISTEN, tokenFile },
      }),
    );
    await lab.destroyVm(VM).catch(() => {});
    await lab.createVm({ name: VM, host: SOURCE, vcpus: 1, memoryMiB: 128, cpuBusyPercent: 10, dirtyMiBps: 1, workloadMiB: 16 });
  }, 240_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.once('exit', r));
    }
    await lab?.destroyVm(VM).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('lists the recommendation, refuses unauthenticated and wrong-token approvals, approves with a token: executed, guest intact, journaled with who', async () => {
    const before = (await lab.heartbeat(VM)).seq;
    daemon = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', config, '--log-level', 'info'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.on('data', (d) => (daemonLog += d));
    daemon.stderr!.on('data', (d) => (daemonLog += d));

    // The daemon's ticks (every 3 s) recommend the move off lab1; the API lists it.
    type Listed = { id: string; vm: string; from: string; to: string; status: string };
    let rec: Listed | undefined;
    const by = Date.now() + 60_000;
    while (!rec) {
      expect(Date.now() < by && daemon.exitCode === null, `no recommendation for ${VM} over the API:\n${daemonLog}`).toBe(true);
      await sleep(1000);
      const res = await fetch(`${BASE}/v1/recommendations`, { headers: auth() }).catch(() => undefined);
      if (res?.status !== 200) continue;
      rec = ((await res.json()) as Listed[]).find((r) => r.vm === VM);
    }
    expect([rec.status, rec.from]).toEqual(['waiting', SOURCE]);
    expect(['lab2', 'lab3']).toContain(rec.to);

    // The reads and place answer from the daemon's own observation, as the commands' --json do.
    const get = async (path: string) => (await fetch(`${BASE}${path}`, { headers: auth() })).json();
    const status = (await get('/v1/status')) as { role: string; hosts: { name: string; up: boolean; vms: { name: string }[] }[] };
    expect(status.role).toBe('leader');
    expect(status.hosts.find((h) => h.name === SOURCE)?.vms.map((v) => v.name)).toContain(VM);
    const plan = (await get('/v1/plan')) as { moves: { vm: string; from: string; to: string }[] };
    expect(plan.moves.find((m) => m.vm === VM)).toMatchObject({ from: SOURCE, to: expect.stringMatching(/^lab[23]$/) });
    const placed = await fetch(`${BASE}/v1/place`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'api-new', vcpus: 1, memoryMib: 128 }),
    });
    const placement = (await placed.json()) as { host: string | null; hosts: { host: string; accepted: boolean; reason?: string }[] };
    expect(placed.status).toBe(200);
    expect(['lab2', 'lab3']).toContain(placement.host);
    expect(placement.hosts.find((h) => h.host === SOURCE)).toMatchObject({ accepted: false, reason: `${SOURCE} is in maintenance` });

    // Without credentials, or with a wrong token: refused, nothing moves.
    const approveUrl = `${BASE}/v1/recommendations/${encodeURIComponent(rec.id)}/approve`;
    expect((await fetch(approveUrl, { method: 'POST' })).status).toBe(401);
    expect((await fetch(approveUrl, { method: 'POST', headers: auth('wrong-token-0123456789abcdef') })).status).toBe(401);
    expect(await lab.whereIs(VM)).toBe(SOURCE);

    // With the token: the daemon's executor runs it; the answer comes when the move has ended.
    const approved = await fetch(approveUrl, { method: 'POST', headers: auth() });
    const answer = (await approved.json()) as { by: string; reports: { id: string; code: string; outcome?: string; to: string }[] };
    expect(approved.status, `${JSON.stringify(answer)}\n${daemonLog}`).toBe(200);
    expect(answer).toEqual({ by: 'api:lab-ops', reports: [expect.objectContaining({ id: rec.id, code: 'executed', outcome: 'completed', to: rec.to })] });
    expect(await lab.whereIs(VM)).toBe(rec.to);
    expect(daemonLog).toContain('operator request over the HTTP API');

    // The guest's memory is intact: its heartbeat goes on from where it was.
    expect((await lab.waitForHeartbeat(VM, { afterSeq: before + 2, timeoutMs: 30_000 })).status).toBe('OK');

    // Journaled with who approved; approving again is refused 409.
    const history = (await (await fetch(`${BASE}/v1/history?limit=500`, { headers: auth() })).json()) as {
      type: string;
      id?: string;
      by?: string;
      decision?: string;
      outcome?: string;
      vm?: string;
    }[];
    expect(history.find((e) => e.type === 'approval' && e.id === rec.id)).toMatchObject({ by: 'api:lab-ops', decision: 'executed', outcome: 'completed' });
    expect(history.some((e) => e.type === 'outcome' && e.vm === VM && e.outcome === 'completed')).toBe(true);
    const again = await fetch(approveUrl, { method: 'POST', headers: auth() });
    expect([again.status, ((await again.json()) as { error: string }).error]).toEqual([409, 'recommendation-not-waiting']);

    daemon.kill('SIGTERM');
    expect(await new Promise((r) => daemon!.once('exit', (code) => r(code)))).toBe(0);
  }, 180_000);
});
