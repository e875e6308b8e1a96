/**
 * The collector against replies recorded from a real libvirt 11.3 lab host running one guest
 * (test/unit/libvirt/recorded-daemon.ts): two collections give the host and the guest as virsh saw
 * them, with every call the collector makes answered from the recording.
 */
import { describe, expect, it } from 'vitest';
import { collectOnce } from '../../../src/cluster/collector.js';
import { parseConfig } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log/logger.js';
import { loadRecording, startRecordedDaemon } from '../libvirt/recorded-daemon.js';

const recording = loadRecording('lab1-observe');
const field = (text: string, label: string): string => new RegExp(`^${label}:\\s*(.+)$`, 'm').exec(text)![1].trim();
const KiB = 1024;

describe('collector on recorded replies (libvirt 11.3 lab host, one guest)', () => {
  it('observes the host and its guest as virsh nodeinfo and dominfo did, asking only what was recorded', async () => {
    const daemon = await startRecordedDaemon(recording);
    const config = parseConfig({ hosts: [{ name: 'lab1', uri: daemon.uri }], stateDir: '/tmp/vb-unit-recorded' });
    const { state, close } = await collectOnce(config, { logger: silentLogger(), sampleIntervalMs: 100 });
    try {
      expect(daemon.unexpected).toEqual([]);
      const host = state.hosts.find((h) => h.name === 'lab1')!;
      expect(host.up).toBe(true);
      expect(host.cpuCount).toBe(Number(field(recording.virsh.nodeinfo, 'CPU\\(s\\)')));
      expect(host.memoryTotalBytes).toBeLessThanOrEqual(Number(field(recording.virsh.nodeinfo, 'Memory size').split(' ')[0]) * KiB);
      expect(host.memoryTotalBytes).toBeGreaterThan(0);
      const vm = state.vms.find((v) => v.name === 'rec1')!;
      expect(vm).toMatchObject({
        uuid: recording.virsh.domuuid,
        host: 'lab1',
        state: 'running',
        vcpus: Number(field(recording.virsh.dominfo, 'CPU\\(s\\)')),
        maxMemoryBytes: Number(field(recording.virsh.dominfo, 'Max memory').split(' ')[0]) * KiB,
        jobRunning: false,
      });
      expect(state.vms.map((v) => v.name).sort()).toEqual(recording.virsh.list.split('\n').filter(Boolean).sort());
    } finally {
      await close();
      await daemon.close();
    }
  });
});
