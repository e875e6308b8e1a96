import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HostConnections } from '../../../src/cluster/connections.js';
import { parseConfig } from '../../../src/config/index.js';
import { LibvirtConnection } from '../../../src/libvirt/index.js';
import { createLogger } from '../../../src/log/logger.js';

/** A connection that answers connectGetCapabilities with a host UUID (the fields HostConnections uses). */
function fakeConnection(hostUuid: string) {
  const conn = Object.assign(new EventEmitter(), {
    closed: false,
    connectGetCapabilities: async () => `<capabilities><host><uuid>${hostUuid}</uuid><cpu><pages unit='KiB' size='4'/></cpu></host></capabilities>`,
    close: async () => {
      conn.closed = true;
      conn.emit('close');
    },
  });
  return conn;
}

describe('host identity at connect', () => {
  afterEach(() => vi.restoreAllMocks());

  it('two entries that reach one libvirt host (one host UUID) are reported and the later entry is not used', async () => {
    const uuids: Record<string, string> = {
      'qemu+tcp://10.0.0.11/system': '4c4c4544-0000-1000-8000-00000000000a',
      'qemu+tcp://kvm1.example.net/system': '4c4c4544-0000-1000-8000-00000000000a',
      'qemu+tcp://10.0.0.12/system': '4c4c4544-0000-1000-8000-00000000000b',
    };
    const opened: ReturnType<typeof fakeConnection>[] = [];
    vi.spyOn(LibvirtConnection, 'open').mockImplementation(async (uri: string) => {
      const conn = fakeConnection(uuids[uri]);
      opened.push(conn);
      return conn as unknown as LibvirtConnection;
    });
    const config = parseConfig({
      hosts: [
        { name: 'kvm1', uri: 'qemu+tcp://10.0.0.11/system' },
        { name: 'kvm1-by-name', uri: 'qemu+tcp://kvm1.example.net/system' },
        { name: 'kvm2', uri: 'qemu+tcp://10.0.0.12/system' },
      ],
    });
    const logger = createLogger({ level: 'silent' });
    const errors: unknown[] = [];
    vi.spyOn(logger, 'error').mockImplementation((...args: unknown[]) => void errors.push(args));
    const connections = new HostConnections(config, { logger });
    await connections.start();
    try {
      expect(connections.status('kvm1')).toEqual({ up: true });
      expect(connections.status('kvm2')).toEqual({ up: true });
      const dup = connections.status('kvm1-by-name');
      expect(dup.up).toBe(false);
      expect(dup.downReason).toContain('same libvirt host as "kvm1" (host UUID 4c4c4544-0000-1000-8000-00000000000a)');
      expect(connections.get('kvm1-by-name')).toBeUndefined();
      expect(opened.filter((c) => c.closed)).toHaveLength(1);
      expect(errors).toHaveLength(1);
    } finally {
      await connections.close();
    }
  });

  it('a host whose capabilities call fails is not used (its host UUID is unknown), with the reason, and is used once the call answers', async () => {
    let failing = true;
    vi.spyOn(LibvirtConnection, 'open').mockImplementation(async (uri: string) => {
      const conn = fakeConnection(uri.includes('11') ? '4c4c4544-0000-1000-8000-00000000000a' : '4c4c4544-0000-1000-8000-00000000000b');
      if (uri.includes('12'))
        conn.connectGetCapabilities = async () => {
          if (failing) throw new Error('internal error: cannot probe QEMU capabilities');
          return `<capabilities><host><uuid>4c4c4544-0000-1000-8000-00000000000b</uuid></host></capabilities>`;
        };
      return conn as unknown as LibvirtConnection;
    });
    const config = parseConfig({
      hosts: [
        { name: 'kvm1', uri: 'qemu+tcp://10.0.0.11/system' },
        { name: 'kvm2', uri: 'qemu+tcp://10.0.0.12/system' },
      ],
      libvirt: { reconnectInitialDelaySeconds: 0.05, reconnectMaxDelaySeconds: 0.05 },
    });
    const connections = new HostConnections(config, { logger: createLogger({ level: 'silent' }) });
    await connections.start();
    try {
      expect(connections.status('kvm1')).toEqual({ up: true });
      const down = connections.status('kvm2');
      expect(down.up).toBe(false);
      expect(down.downReason).toContain(
        'host capabilities (virConnectGetCapabilities) failed, so its host UUID is unknown: internal error: cannot probe QEMU capabilities',
      );
      failing = false;
      await vi.waitFor(() => expect(connections.status('kvm2')).toEqual({ up: true }), { timeout: 2000, interval: 20 });
    } finally {
      await connections.close();
    }
  });
});
