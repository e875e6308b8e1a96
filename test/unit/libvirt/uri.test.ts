import { describe, expect, it } from 'vitest';
import { LibvirtUriError } from '../../../src/libvirt/errors.js';
import { sshArguments } from '../../../src/libvirt/transport.js';
import { parseLibvirtUri } from '../../../src/libvirt/uri.js';

describe('libvirt URIs', () => {
  it('reads the forms virsh accepts', () => {
    expect(parseLibvirtUri('qemu:///system')).toMatchObject({
      driver: 'qemu',
      transport: 'unix',
      socketPath: '/run/libvirt/libvirt-sock',
      remoteName: 'qemu:///system',
    });
    expect(parseLibvirtUri('qemu+unix:///system?socket=/tmp/s')).toMatchObject({ transport: 'unix', socketPath: '/tmp/s', remoteName: 'qemu:///system' });
    expect(parseLibvirtUri('qemu+tcp://127.0.0.11/system')).toMatchObject({
      transport: 'tcp',
      host: '127.0.0.11',
      port: undefined,
      remoteName: 'qemu:///system',
    });
    expect(parseLibvirtUri('qemu+tcp://host:1234/system')).toMatchObject({ host: 'host', port: 1234 });
    expect(parseLibvirtUri('qemu+tls://host.example/system')).toMatchObject({ transport: 'tls', host: 'host.example' });
    expect(parseLibvirtUri('qemu://host.example/system')).toMatchObject({ transport: 'tls' });
    expect(parseLibvirtUri('qemu+ssh://root@h/system')).toMatchObject({ transport: 'ssh', user: 'root', host: 'h', socketPath: '/run/libvirt/libvirt-sock' });
    expect(parseLibvirtUri('test+tcp://127.0.0.1/default')).toMatchObject({ driver: 'test', remoteName: 'test:///default' });
    expect(parseLibvirtUri('qemu+tcp://[::1]:16509/system')).toMatchObject({ host: '::1', port: 16509 });
  });

  it('says what is wrong with a malformed URI', () => {
    expect(() => parseLibvirtUri('')).toThrow(LibvirtUriError);
    expect(() => parseLibvirtUri('foo')).toThrow(/not a libvirt URI/);
    expect(() => parseLibvirtUri('qemu+pigeon://h/system')).toThrow(/transport "pigeon" is not supported/);
    expect(() => parseLibvirtUri('qemu+tcp:///system')).toThrow(/needs a host/);
    expect(() => parseLibvirtUri('qemu+tcp://h:99999/system')).toThrow(/port "99999"/);
    expect(() => parseLibvirtUri('qemu+unix://h/system')).toThrow(/takes no host/);
  });

  it('builds an ssh command that runs virt-ssh-helper and falls back to nc -U', () => {
    const args = sshArguments(parseLibvirtUri('qemu+ssh://admin@hv1:2222/system'));
    expect(args).toEqual(expect.arrayContaining(['-p', '2222', '-l', 'admin', 'hv1']));
    const remote = args[args.length - 1];
    expect(remote).toContain("virt-ssh-helper '\\''qemu:///system'\\''");
    expect(remote).toContain('nc -U /run/libvirt/libvirt-sock');
  });

  it('uses netcat on ?socket= when ?netcat= or ?proxy=netcat asks for it, as libvirt does', () => {
    const remote = (uri: string) => sshArguments(parseLibvirtUri(uri)).at(-1)!;
    expect(remote('qemu+ssh://h/system?socket=/s&netcat=nc.openbsd')).toBe("sh -c 'exec nc.openbsd -U /s'");
    expect(remote('qemu+ssh://h/system?socket=/s&proxy=netcat')).toBe("sh -c 'exec nc -U /s'");
    expect(remote('qemu+ssh://h/system?proxy=native')).not.toContain('nc -U');
    expect(() => remote('qemu+ssh://h/system?proxy=telnet')).toThrow(/proxy=telnet is not one of auto, netcat, native/);
  });
});
