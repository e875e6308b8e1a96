/**
 * `maintenance` beside a running daemon: refused with `daemon-running` and the fix (stop the
 * daemon), not a lock error; a held lock with no daemon answering stays `daemon-not-answering`.
 * The daemon is stood in for by the state directory's lock held here and a control socket.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { controlSocketPath } from '../../../src/controller/control-protocol.js';
import { startControlServer } from '../../../src/controller/control-server.js';
import { RequestRefused } from '../../../src/controller/errors.js';
import { Session } from '../../../src/controller/session.js';
import { lockForRoll } from '../../../src/controller/workflows/maintenance-here.js';
import { lockStateDir } from '../../../src/ha/state-lock.js';
import { createLogger } from '../../../src/log/logger.js';

const logger = createLogger({ level: 'silent' });
let dir: string;
let stateDir: string;
let configFile: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vb-maint-daemon-'));
  stateDir = join(dir, 'state');
  configFile = join(dir, 'config.yaml');
  await writeFile(configFile, `stateDir: ${stateDir}\nhosts:\n  - name: h1\n    uri: qemu+tcp://127.0.0.1/system\n`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(): Promise<{ code: string; message: string } | undefined> {
  const session = await Session.open(configFile, logger);
  try {
    await lockForRoll(session);
    return undefined;
  } catch (error) {
    if (error instanceof RequestRefused) return { code: error.code, message: error.message };
    throw error;
  } finally {
    await session.close();
  }
}

describe('maintenance beside a daemon', () => {
  it('refuses with daemon-running and the fix when a daemon holds the state directory and answers on its socket', async () => {
    const lock = await lockStateDir(stateDir);
    const server = await startControlServer(controlSocketPath(stateDir), async () => undefined, logger);
    try {
      const r = await refusal();
      expect(r?.code).toBe('daemon-running');
      expect(r?.message).toMatch(/stop the daemon \(e\.g\. systemctl stop virt-balancer\), run maintenance, then start it again/);
    } finally {
      await server.close();
      await lock.release();
    }
  });

  it('a held lock with nobody answering stays daemon-not-answering; a free one is taken', async () => {
    const lock = await lockStateDir(stateDir);
    try {
      expect((await refusal())?.code).toBe('daemon-not-answering');
    } finally {
      await lock.release();
    }
    expect(await refusal()).toBeUndefined();
  });
});
