/**
 * A SIGHUP reload while an operator's request (control socket) runs: the request keeps the
 * policies it started with, and they are closed (custom policies' worker threads stopped) only
 * after it ends — not under a drain that still plans its later moves with them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { Controller } from '../../../src/controller/controller.js';
import { silentLogger } from '../../../src/log/logger.js';
import { createMetrics } from '../../../src/metrics/catalog.js';
import { loadPolicies, type LoadedPolicy } from '../../../src/policy/loader.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vb-reload-request-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('config reload during an operator request', () => {
  it('closes the replaced policies only after the request that holds them has ended', async () => {
    const config = parseConfig({ hosts: [{ name: 'a', uri: 'qemu+tcp://a.example/system' }], stateDir: dir }, 'test.yaml');
    const controller = new Controller(config, { logger: silentLogger(), metrics: createMetrics(undefined, { defaultMetrics: false }) });
    const close = vi.fn(async () => {});
    const original: LoadedPolicy[] = (await loadPolicies(config.policy)).map((p) => ({ ...p, close }));
    (controller as unknown as { policies: LoadedPolicy[] }).policies = original;
    vi.spyOn(controller.connections, 'reload').mockResolvedValue(undefined);

    let finish!: () => void;
    let seen: readonly LoadedPolicy[] = [];
    const request = controller.serveRequest(async (ctx) => {
      seen = ctx.policies;
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      return ctx.policies;
    });
    await controller.reload(
      parseConfig({ hosts: [{ name: 'a', uri: 'qemu+tcp://a.example/system' }], stateDir: dir, policy: { cpuHighPercent: 70 } }, 'test.yaml'),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toBe(original);
    expect(close).not.toHaveBeenCalled();
    // A request after the reload gets the new policies.
    expect(await controller.serveRequest(async (ctx) => ctx.policies)).not.toBe(original);

    finish();
    expect(await request).toBe(original);
    await vi.waitFor(() => expect(close).toHaveBeenCalledTimes(original.length));
  });
});
