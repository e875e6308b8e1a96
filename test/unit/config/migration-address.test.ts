import { describe, expect, it } from 'vitest';
import { isMigrationAddress, listenAddressFor, migrationUriForAddress, parseConfig } from '../../../src/config/index.js';

describe('hosts[].migrationAddress', () => {
  it('accepts IPv4, IPv6 (bare or bracketed) and host names', () => {
    for (const a of ['10.1.0.5', 'fd00::5', '[fd00::5]', 'kvm1-mig', 'kvm1-mig.example.com', 'kvm1.example.com.']) expect(isMigrationAddress(a), a).toBe(true);
  });
  it('refuses URIs, ports, paths, spaces and malformed IPv4', () => {
    for (const a of ['tcp://10.1.0.5', '10.1.0.5:49152', '10.1.0.5/24', 'kvm 1', '999.1.1.1', '10.1.0', '-kvm1', '', '[kvm1]'])
      expect(isMigrationAddress(a), a).toBe(false);
  });
  it('becomes tcp://ADDRESS (IPv6 in brackets) and a listen address without brackets', () => {
    expect(migrationUriForAddress('10.1.0.5')).toBe('tcp://10.1.0.5');
    expect(migrationUriForAddress('fd00::5')).toBe('tcp://[fd00::5]');
    expect(migrationUriForAddress('[fd00::5]')).toBe('tcp://[fd00::5]');
    expect(migrationUriForAddress('kvm1-mig.example.com')).toBe('tcp://kvm1-mig.example.com');
    expect(listenAddressFor('[fd00::5]')).toBe('fd00::5');
  });
  it('is checked at load: malformed and duplicate addresses are named with the fix', () => {
    const yaml = (a: string, b: string) => ({
      hosts: [
        { name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system', migrationAddress: a },
        { name: 'kvm2', uri: 'qemu+tcp://10.0.0.2/system', migrationAddress: b },
      ],
    });
    expect(() => parseConfig(yaml('tcp://10.1.0.1', '10.1.0.2'), 'c.yaml')).toThrow(/hosts\[0\]\.migrationAddress.*an IPv4 or IPv6 address or a host name/s);
    expect(() => parseConfig(yaml('KVM-MIG.example.com', 'kvm-mig.example.com.'), 'c.yaml')).toThrow(
      /hosts\[1\]\.migrationAddress.*also hosts\[0\] \(kvm1\)'s migration address; give each host its own migrationAddress/s,
    );
    // A written migration address equal to another host's default one (the host part of its uri).
    const onDefault = {
      hosts: [
        { name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' },
        { name: 'kvm2', uri: 'qemu+tcp://10.0.0.2/system', migrationAddress: '10.0.0.1' },
      ],
    };
    expect(() => parseConfig(onDefault, 'c.yaml')).toThrow(
      /hosts\[1\]\.migrationAddress.*at 10\.0\.0\.1, which is also hosts\[0\] \(kvm1\)'s address \(from its uri; it has no migrationAddress\)/s,
    );
    // Without any migrationAddress nothing changes: hosts are told apart by their daemons.
    expect(
      parseConfig(
        {
          hosts: [
            { name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' },
            { name: 'kvm2', uri: 'qemu+tcp://10.0.0.2/system' },
          ],
        },
        'c.yaml',
      ).hosts,
    ).toHaveLength(2);
    const ok = parseConfig(yaml('10.1.0.1', '10.1.0.2'), 'c.yaml');
    expect(ok.hosts.map((h) => h.migrationAddress)).toEqual(['10.1.0.1', '10.1.0.2']);
    expect(ok.migration.tls).toBe('off');
  });
  it('migration.tls takes off, preferred or required only', () => {
    const withTls = (tls: string) => ({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' }], migration: { tls } });
    expect(parseConfig(withTls('required'), 'c.yaml').migration.tls).toBe('required');
    expect(() => parseConfig(withTls('yes'), 'c.yaml')).toThrow(/migration\.tls/);
  });
});
