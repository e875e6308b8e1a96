import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { formatLogLine, lineDestination } from '../../../src/log/logger.js';

describe('the interactive commands log format (one readable line per record)', () => {
  it('writes level word, message and fields, without time, pid or the retry counter', () => {
    const line = formatLogLine({
      level: 40,
      time: 1,
      pid: 2,
      hostname: 'x',
      host: 'kvm1',
      reason: 'connection refused',
      retryInSeconds: 4,
      msg: 'libvirt host unreachable',
    });
    expect(line).toBe('virt-balancer: warning: libvirt host unreachable (host: kvm1; reason: connection refused)');
  });

  it('writes a repeated record once (a host retried every few seconds with the same reason)', () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn', base: undefined },
      lineDestination((text) => lines.push(text)),
    );
    logger.warn({ host: 'kvm1', reason: 'refused', retryInSeconds: 1 }, 'unreachable');
    logger.warn({ host: 'kvm1', reason: 'refused', retryInSeconds: 2 }, 'unreachable');
    logger.warn({ host: 'kvm2', reason: 'refused', retryInSeconds: 1 }, 'unreachable');
    logger.info('not at warn');
    logger.error({ err: new Error('boom') }, 'failed');
    expect(lines).toEqual([
      'virt-balancer: warning: unreachable (host: kvm1; reason: refused)\n',
      'virt-balancer: warning: unreachable (host: kvm2; reason: refused)\n',
      'virt-balancer: error: failed (err: boom)\n',
    ]);
  });
});
