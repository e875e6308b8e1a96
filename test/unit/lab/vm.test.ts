/** Lab guest profiles: the domain XML that puts a guest in libvirt's crashed or pmsuspended state (issue 13). */
import { describe, expect, it } from 'vitest';
import { domainXml, type VmProfile } from '../../../lab/vm.js';

const image = { kernel: '/images/vmlinuz', initrd: '/images/initrd.img' };
const base: VmProfile = { name: 'g', host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 5, dirtyMiBps: 0, workloadMiB: 16 };

describe('lab guests that crash or sleep', () => {
  it('an ordinary guest is destroyed on a crash, with no panic device and no suspend-to-RAM', () => {
    const xml = domainXml(base, image, '/consoles/g.log');
    expect(xml).toContain('<on_crash>destroy</on_crash>');
    expect(xml).not.toContain('<panic');
    expect(xml).not.toContain('<pm>');
    expect(xml).not.toMatch(/vb\.(crash|pmsuspend)_after/);
  });

  it('crashAfterBeats: pvpanic device, kept crashed (preserve), crash after N heartbeats on the command line', () => {
    const xml = domainXml({ ...base, crashAfterBeats: 3 }, image, '/consoles/g.log');
    expect(xml).toContain('<on_crash>preserve</on_crash>');
    expect(xml).toContain("<panic model='isa'/>");
    expect(xml).toMatch(/<cmdline>[^<]* vb\.crash_after=3[ <]/);
  });

  it('pmSuspendAfterBeats: suspend-to-RAM enabled, S3 after N heartbeats on the command line', () => {
    const xml = domainXml({ ...base, pmSuspendAfterBeats: 2 }, image, '/consoles/g.log');
    expect(xml).toContain("<pm><suspend-to-mem enabled='yes'/></pm>");
    expect(xml).toMatch(/<cmdline>[^<]* vb\.pmsuspend_after=2[ <]/);
    expect(xml).toContain('<on_crash>destroy</on_crash>');
  });

  it('refuses a count that is not a whole number of heartbeats, naming the field', () => {
    expect(() => domainXml({ ...base, crashAfterBeats: 0 }, image, '/c')).toThrow(
      /VM profile g: crashAfterBeats 0: use a whole number of heartbeats, 1 or more/,
    );
    expect(() => domainXml({ ...base, pmSuspendAfterBeats: 1.5 }, image, '/c')).toThrow(/pmSuspendAfterBeats 1.5/);
  });
});
