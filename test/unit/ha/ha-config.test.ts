/** The `ha:` config section: off by default, defaults, and errors that name the field and the fix. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { oneHost, problemsOf } from '../config/problems.js';

describe('ha config', () => {
  it('is off unless given, and fills defaults when given', () => {
    expect(parseConfig(oneHost).ha).toBeUndefined();
    expect(parseConfig({ ...oneHost, ha: { endpoints: ['http://10.0.0.21:2379'] } }).ha).toEqual({
      endpoints: ['http://10.0.0.21:2379'],
      electionName: 'virt-balancer',
      leaseTtlSeconds: 10,
      retryIntervalSeconds: 1,
      callTimeoutSeconds: 3,
      historyEntries: 200,
    });
  });

  it('names each wrong field with the fix', () => {
    expect(problemsOf({ ...oneHost, ha: { endpoints: [] } })).toEqual([
      expect.objectContaining({ path: 'ha.endpoints', message: expect.stringContaining('at least one etcd endpoint') }),
    ]);
    expect(problemsOf({ ...oneHost, ha: { endpoints: ['10.0.0.21:2379'] } })[0]).toMatchObject({
      path: 'ha.endpoints[0]',
      message: expect.stringContaining('http://host:port or https://host:port'),
    });
    expect(problemsOf({ ...oneHost, ha: { endpoints: ['https://10.0.0.21:2379'] } })).toEqual([
      expect.objectContaining({ path: 'ha.tls', message: expect.stringContaining('need tls.caFile') }),
    ]);
    expect(problemsOf({ ...oneHost, ha: { endpoints: ['https://a:2379'], tls: { caFile: '/ca.pem', certFile: '/c.pem' } } })).toEqual([
      expect.objectContaining({ path: 'ha.tls', message: expect.stringContaining('certFile and keyFile go together') }),
    ]);
    expect(problemsOf({ ...oneHost, ha: { endpoints: ['https://a:2379', 'http://b:2379'], tls: { caFile: '/ca.pem' } } })).toEqual([
      expect.objectContaining({ path: 'ha.endpoints', message: expect.stringContaining('mixes http:// and https://') }),
    ]);
    expect(problemsOf({ ...oneHost, ha: { endpoints: ['http://a:2379'], leaseTtlSeconds: 4, retryIntervalSeconds: 3 } })).toEqual([
      expect.objectContaining({ path: 'ha.retryIntervalSeconds', message: expect.stringContaining('more than half of leaseTtlSeconds (4)') }),
    ]);
    expect(problemsOf({ ...oneHost, ha: { endpoints: ['http://a:2379'], leaseTtlSecond: 4 } })[0].path).toBe('ha');
  });
});
