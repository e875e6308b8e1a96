/**
 * A lab host whose QEMU offers TCG guests fewer CPU features than the others: a way to make lab
 * hosts differ in CPU although they share one machine. Inside the host's own mount namespace (the
 * one its virtlogd holds) the QEMU binary is replaced by a wrapper that runs the real one with
 * `-global max-x86_64-cpu.<feature>=off` for each feature, and libvirtd is restarted so it probes
 * QEMU again. libvirt takes TCG's host-model CPU from QEMU's "max" CPU model
 * (query-cpu-model-expansion), so that host's domain capabilities and expanded host-model CPU lack
 * those features, as on an older CPU. What it does not change: QEMU still emulates the features
 * for a guest that names them on its own model (the -global applies to "max" only), and libvirt
 * does not compare an incoming TCG guest's CPU with the host's, so libvirt itself would still
 * migrate such a guest there. Guests already running keep running across the restart. Nothing in
 * the root namespace changes; `unrestrictTcgCpu` undoes it.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LabHost, livePid, startHost, stopLibvirtd } from './hosts.js';
import { run } from './run.js';

const QEMU = '/usr/bin/qemu-system-x86_64';

function virtlogdPid(host: LabHost): Promise<number | undefined> {
  return livePid(join(host.dir, 'virtlogd.pid'), 'virtlogd');
}

async function inNamespace(host: LabHost, script: string): Promise<void> {
  const pid = await virtlogdPid(host);
  if (pid === undefined) throw new Error(`lab host ${host.name} has no virtlogd running: bring the lab up first (npm run lab -- up)`);
  await run('nsenter', ['-t', String(pid), '-m', 'sh', '-c', script]);
}

/** Restart the host's libvirtd with its QEMU offering TCG guests none of `features` (libvirt's feature names). */
export async function restrictTcgCpu(host: LabHost, features: readonly string[]): Promise<void> {
  for (const f of features) if (!/^[a-z0-9_.-]+$/.test(f)) throw new Error(`"${f}" is not a CPU feature name (lowercase letters, digits, _ . -)`);
  const real = join(host.dir, 'qemu-real');
  const wrapper = join(host.dir, 'qemu-wrapper');
  const globals = features.map((f) => `-global max-x86_64-cpu.${f}=off`).join(' ');
  await writeFile(wrapper, `#!/bin/sh\nexec "${real}" ${globals} "$@"\n`);
  await chmod(wrapper, 0o755);
  await writeFile(real, '');
  // Mount the real binary aside first, so the wrapper reaches it under the bind over QEMU's path.
  await inNamespace(host, `umount ${QEMU} 2>/dev/null; umount "${real}" 2>/dev/null; mount --bind ${QEMU} "${real}" && mount --bind "${wrapper}" ${QEMU}`);
  await stopLibvirtd(host);
  await startHost(host);
}

/** Undo restrictTcgCpu: the host's own QEMU again, and libvirtd restarted to probe it. */
export async function unrestrictTcgCpu(host: LabHost): Promise<void> {
  await inNamespace(host, `umount ${QEMU} 2>/dev/null; umount "${join(host.dir, 'qemu-real')}" 2>/dev/null; true`);
  await stopLibvirtd(host);
  await startHost(host);
}
