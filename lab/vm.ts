/** Lab VM profiles and the domain XML they become. */
import type { GuestImage } from './image.js';

export interface VmProfile {
  name: string;
  /** Lab host name (lab1, lab2, ...). */
  host: string;
  vcpus: number;
  memoryMiB: number;
  /** Share of one vCPU the workload keeps busy, 0..100. */
  cpuBusyPercent: number;
  /** Pages the workload rewrites per second, MiB/s. */
  dirtyMiBps: number;
  /** Memory the workload fills and checks, MiB (default: a quarter of the guest, at most 64). */
  workloadMiB?: number;
  /** Test only: the workload flips one of its own bits after this many heartbeats. */
  selfTestCorruptAfter?: number;
  /**
   * Test only: a string put on the kernel command line (vb.marker=...), so it sits in guest memory
   * (the kernel's saved command line, the workload's copy of /proc/cmdline) for a capture to look for.
   * An '&' in it is written &amp; in the domain XML libvirt sends between daemons, so the marker as
   * it is in memory appears on the wire only in the migration stream.
   */
  marker?: string;
  /**
   * Test only: the guest kernel crashes (sysrq 'c') after this many heartbeats. The domain gets a
   * pvpanic device and <on_crash>preserve</on_crash>, so libvirt keeps it in its crashed state
   * (QEMU's GUEST_PANICKED event; libvirt src/qemu/qemu_driver.c processGuestPanicEvent).
   */
  crashAfterBeats?: number;
  /**
   * Test only: the guest suspends itself to RAM (ACPI S3) after this many heartbeats, so libvirt
   * shows it pmsuspended (QEMU's SUSPEND event; qemu_process.c qemuProcessHandlePMSuspend) until
   * `virsh dompmwakeup`. The domain gets <pm><suspend-to-mem enabled='yes'/></pm>.
   */
  pmSuspendAfterBeats?: number;
}

export function checkProfile(p: VmProfile): void {
  const problems: string[] = [];
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(p.name)) problems.push(`name "${p.name}": use letters, digits, '.', '_' or '-'`);
  if (!Number.isInteger(p.vcpus) || p.vcpus < 1 || p.vcpus > 8) problems.push(`vcpus ${p.vcpus}: use 1..8`);
  if (!Number.isInteger(p.memoryMiB) || p.memoryMiB < 96) problems.push(`memoryMiB ${p.memoryMiB}: use at least 96 (the kernel needs it)`);
  if (!(p.cpuBusyPercent >= 0 && p.cpuBusyPercent <= 100)) problems.push(`cpuBusyPercent ${p.cpuBusyPercent}: use 0..100`);
  if (p.marker !== undefined && !/^[A-Za-z0-9_&-]{8,64}$/.test(p.marker)) problems.push(`marker "${p.marker}": use 8-64 letters, digits, '_', '-' or '&'`);
  for (const [key, value] of [
    ['crashAfterBeats', p.crashAfterBeats],
    ['pmSuspendAfterBeats', p.pmSuspendAfterBeats],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) problems.push(`${key} ${value}: use a whole number of heartbeats, 1 or more`);
  }
  if (!(p.dirtyMiBps >= 0)) problems.push(`dirtyMiBps ${p.dirtyMiBps}: use 0 or more`);
  const workload = workloadMiB(p);
  if (workload > p.memoryMiB - 64) problems.push(`workloadMiB ${workload}: leave at least 64 MiB of the ${p.memoryMiB} MiB guest to its kernel`);
  if (problems.length) throw new Error(`VM profile ${p.name}: ${problems.join('; ')}`);
}

export function workloadMiB(p: VmProfile): number {
  return p.workloadMiB ?? Math.min(64, Math.floor(p.memoryMiB / 4));
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;');
}

/**
 * TCG guest (nested KVM hangs guests on these machines), direct kernel boot, console to a file
 * in shared storage (append, so a migrated guest's destination QEMU continues the same log).
 */
export function domainXml(p: VmProfile, image: GuestImage, consolePath: string): string {
  checkProfile(p);
  const cmdline = [
    'console=ttyS0',
    'quiet',
    'panic=0',
    'mitigations=off',
    `vb.cpu=${p.cpuBusyPercent}`,
    `vb.mem=${workloadMiB(p)}`,
    `vb.dirty=${p.dirtyMiBps}`,
    ...(p.selfTestCorruptAfter !== undefined ? [`vb.selftest_corrupt_after=${p.selfTestCorruptAfter}`] : []),
    ...(p.marker !== undefined ? [`vb.marker=${p.marker}`] : []),
    ...(p.crashAfterBeats !== undefined ? [`vb.crash_after=${p.crashAfterBeats}`] : []),
    ...(p.pmSuspendAfterBeats !== undefined ? [`vb.pmsuspend_after=${p.pmSuspendAfterBeats}`] : []),
  ].join(' ');
  const crashes = p.crashAfterBeats !== undefined;
  return `<domain type='qemu'>
  <name>${escapeXml(p.name)}</name>
  <memory unit='MiB'>${p.memoryMiB}</memory>
  <currentMemory unit='MiB'>${p.memoryMiB}</currentMemory>
  <vcpu>${p.vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${escapeXml(image.kernel)}</kernel>
    <initrd>${escapeXml(image.initrd)}</initrd>
    <cmdline>${escapeXml(cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>${crashes ? 'preserve' : 'destroy'}</on_crash>${p.pmSuspendAfterBeats !== undefined ? "\n  <pm><suspend-to-mem enabled='yes'/></pm>" : ''}
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'>
      <source path='${escapeXml(consolePath)}' append='on'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>${crashes ? "\n    <panic model='isa'/>" : ''}
  </devices>
</domain>
`;
}

/** The demo's uneven load: every VM starts on lab1. */
export function demoProfiles(): VmProfile[] {
  // Uneven on purpose: everything on lab1. Modest CPU so six TCG guests fit on a 2-core machine.
  return [
    { name: 'web1', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 45, dirtyMiBps: 1, workloadMiB: 32 },
    { name: 'web2', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 35, dirtyMiBps: 1, workloadMiB: 32 },
    { name: 'db1', host: 'lab1', vcpus: 1, memoryMiB: 256, cpuBusyPercent: 30, dirtyMiBps: 8, workloadMiB: 64 },
    { name: 'batch1', host: 'lab1', vcpus: 1, memoryMiB: 192, cpuBusyPercent: 50, dirtyMiBps: 2, workloadMiB: 32 },
    { name: 'cache1', host: 'lab1', vcpus: 1, memoryMiB: 256, cpuBusyPercent: 10, dirtyMiBps: 16, workloadMiB: 64 },
    { name: 'idle1', host: 'lab1', vcpus: 1, memoryMiB: 128, cpuBusyPercent: 0, dirtyMiBps: 0, workloadMiB: 16 },
  ];
}
