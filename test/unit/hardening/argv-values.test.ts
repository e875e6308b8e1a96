/** Issue 27 R14: a config value that reaches a program's argv never starts with "-" (it would be read as an option). */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { expandCommand, operatorCommand, powerTarget } from '../../../src/power/command.js';
import { parseLibvirtUri } from '../../../src/libvirt/uri.js';
import { sshArguments, sshRemoteCommand } from '../../../src/libvirt/transport.js';
import { problemsOf } from '../config/problems.js';

const power = { action: 'command', powerOffCommand: ['ssh', '{address}', 'poweroff'], powerOnCommand: ['wakeonlan', '{address}'] };

describe('values that reach an argv (R14)', () => {
  it('a powerAddress starting with "-" is refused in config, the field named', () => {
    const problems = problemsOf({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://10.0.0.11/system', powerAddress: '-oProxyCommand=touch /tmp/x' }], power });
    expect(problems.map((p) => p.path)).toContain('hosts[0].powerAddress');
    expect(problems.find((p) => p.path === 'hosts[0].powerAddress')!.message).toContain('starts with "-"');
  });

  it('a URI host starting with "-" is refused by the parser and in config, the field named', () => {
    expect(() => parseLibvirtUri('qemu+ssh://-oProxyCommand=x/system')).toThrow(/starts with "-"/);
    expect(() => parseLibvirtUri('qemu+tcp://[-x]/system')).toThrow(/starts with "-"/);
    const problems = problemsOf({ hosts: [{ name: 'kvm1', uri: 'qemu+tcp://-oProxyCommand=x/system' }] });
    expect(problems.map((p) => p.path)).toContain('hosts[0].uri');
  });

  it('a host name starting with "-" is refused (it is {name})', () => {
    expect(problemsOf({ hosts: [{ name: '-x', uri: 'qemu+tcp://10.0.0.11/system' }] }).map((p) => p.path)).toContain('hosts[0].name');
  });

  it('expanding a command whatever the source: an argument a placeholder turns into an option is refused, not run', () => {
    const target = { name: 'kvm1', address: '-oProxyCommand=touch /tmp/x', uri: 'qemu:///system' };
    expect(() => expandCommand(['ssh', '{address}', 'poweroff'], target)).toThrow(/for host kvm1, which starts with "-"/);
    // A literal option of the operator's own stays.
    expect(expandCommand(['ipmitool', '-H', '{address}'], { ...target, address: '10.0.0.1' })).toEqual(['ipmitool', '-H', '10.0.0.1']);
    expect(operatorCommand('power-on', { name: 'kvm1', uri: 'qemu:///system', powerAddress: '-x' }, power as never)).toMatch(/^\(not runnable/);
    expect(powerTarget({ name: 'kvm1', uri: 'qemu+tcp://10.0.0.1/system' }).address).toBe('10.0.0.1');
  });

  it('ssh transport: the host follows "--", and ?socket= / ?netcat= values are quoted for the remote shell', () => {
    const uri = parseLibvirtUri("qemu+ssh://h/system?proxy=netcat&socket=/s;touch /tmp/pwned&netcat=nc'x");
    const args = sshArguments(uri);
    expect(args.slice(-3, -1)).toEqual(['--', 'h']);
    // What the remote shell makes of it: sh, -c, one line; that line's words, the values whole.
    const words = (line: string) =>
      execFileSync('sh', ['-c', `set -- ${line}; printf '%s\\0' "$@"`], { encoding: 'utf8' })
        .split('\0')
        .slice(0, -1);
    const [sh, c, inner] = words(sshRemoteCommand(uri));
    expect([sh, c]).toEqual(['sh', '-c']);
    expect(words(inner!)).toEqual(['exec', "nc'x", '-U', '/s;touch /tmp/pwned']);
  });
});
