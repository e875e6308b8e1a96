/**
 * Issue 27: a CI-sized soak (bounded in time, ~10-20 s) of the metrics endpoint and the journal
 * under hostile load and exhausted resources:
 * - HTTP: idle, slowloris, garbage and well-formed clients at once against a capped server while
 *   /healthz is probed; every probe answers and the server never holds more than its cap;
 * - EMFILE: a child under `ulimit -n` whose descriptors are all taken still journals (the journal's
 *   descriptor stays open);
 * - ENOSPC: random quotas (short writes, ENOSPC) under a stream of appends: the file only ever holds
 *   whole entries, each entry an append reported written is on disk exactly once, in order.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DurableAppender } from '../../../src/history/durable-append.js';
import { createJournalFs, Journal, type JournalEntry } from '../../../src/history/journal.js';
import { startMetricsServer } from '../../../src/metrics/server.js';
import { faultyFs } from '../history/faulty-fs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-soak-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as AddressInfo).port)));
  await new Promise((r) => probe.close(r));
  return port;
}

/** A small deterministic PRNG (mulberry32): the soak is the same run every time. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('soak: metrics endpoint under a mixed flood', () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });

  it('answers every /healthz probe within 1 s and never holds more than its cap for 5 s of hostile clients', async () => {
    const port = await freePort();
    const cap = 24;
    server = await startMetricsServer(`127.0.0.1:${port}`, new Registry(), () => ({ ok: true, detail: {} }), {
      maxConnections: cap,
      idleTimeoutMs: 1000,
      requestTimeoutMs: 500,
    });
    const rand = random(27);
    const attacker = () => {
      const s = connect(port, '127.0.0.1');
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
      const kind = rand();
      s.on('connect', () => {
        if (kind < 0.3) return; // idle
        if (kind < 0.5) {
          const drip = setInterval(() => (s.destroyed ? clearInterval(drip) : s.write('G')), 200); // slowloris
          s.on('close', () => clearInterval(drip));
        } else if (kind < 0.7)
          s.write(Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256)))); // garbage
        else if (kind < 0.85)
          s.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'); // well-formed, kept alive
        else s.write(`POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(10)}`); // body never finished
      });
    };
    const maxSeen: number[] = [];
    const probes: number[] = [];
    const end = Date.now() + 5000;
    const flood = setInterval(() => {
      for (let i = 0; i < 5; i++) attacker();
    }, 50);
    try {
      while (Date.now() < end) {
        const t0 = Date.now();
        const status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
          async (r) => (await r.text(), r.status),
          () => 0,
        );
        probes.push(status === 200 ? Date.now() - t0 : Number.POSITIVE_INFINITY);
        maxSeen.push(await new Promise<number>((r) => server!.getConnections((_, n) => r(n))));
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      clearInterval(flood);
    }
    expect(probes.length).toBeGreaterThan(10);
    expect(probes.filter((ms) => ms > 1000)).toEqual([]);
    expect(Math.max(...maxSeen)).toBeLessThanOrEqual(cap);
  }, 20_000);
});

describe('soak: the journal under EMFILE', () => {
  it('a process with every descriptor taken still journals, whole and in order', async () => {
    const port = await freePort();
    const child = join(import.meta.dirname, 'emfile-child.ts');
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        '/bin/sh',
        ['-c', `ulimit -n 128 && exec "${process.execPath}" --import tsx "${child}" "${dir}" ${port}`],
        { timeout: 20_000, cwd: join(import.meta.dirname, '../../..') },
        (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    const report = JSON.parse(out.trim().split('\n').pop()!);
    expect(report.emfile).toBe(true);
    expect(report.failed).toEqual([]);
    expect(report.written).toEqual(['u1', 'u2', 'u3', 'u4', 'u5']);
    expect(report.writable).toBe(true);
    const lines = readFileSync(join(dir, 'journal.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).vmUuid)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4', 'u5']);
  }, 30_000);
});

describe('soak: the journal under ENOSPC and short writes', () => {
  it('holds only whole entries, each reported-written entry exactly once and in order, over 3 s of random quotas', async () => {
    const rand = random(2027);
    const fs = faultyFs();
    const journal = new Journal(dir, {
      fs: createJournalFs(new DurableAppender(fs.open)),
      retryDelaysMs: [1],
      backgroundRetryMs: 60_000,
      maxUnwritten: 1_000_000,
    });
    const durable: string[] = [];
    const refused: string[] = [];
    const end = Date.now() + 3000;
    for (let i = 0; Date.now() < end; i++) {
      const r = rand();
      fs.quotaBytes = r < 0.2 ? Math.floor(rand() * 300) : r < 0.3 ? 0 : Number.POSITIVE_INFINITY;
      const entry: JournalEntry = { type: 'started', atMs: i, vm: `vm${i}`, vmUuid: `u${i}`, from: 'a', to: 'b', technique: 'precopy', deadlineSeconds: 600 };
      await journal.appendDurably(entry).then(
        () => durable.push(`u${i}`),
        () => refused.push(`u${i}`),
      );
      const text = readFileSync(journal.file, 'utf8');
      expect(text === '' || text.endsWith('\n')).toBe(true);
    }
    fs.quotaBytes = Number.POSITIVE_INFINITY;
    const onDisk = readFileSync(journal.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).vmUuid as string);
    expect(onDisk).toEqual(durable);
    expect(refused.length).toBeGreaterThan(5);
    expect(durable.length).toBeGreaterThan(5);
    expect(fs.writes.some((w) => w.written > 0 && w.written < w.asked)).toBe(true);
    await journal.close();
  }, 20_000);
});
