/**
 * Where a lab lives. One lab = one state directory + one loopback address prefix, so separate labs
 * (a developer's demo, a benchmark, CI) can run side by side on one machine.
 */
import { join } from 'node:path';

export interface LabPaths {
  root: string;
  /** Shared storage: kernel, initramfs, per-VM console logs. The same path in every host. */
  images: string;
  consoles: string;
  hosts: string;
  stateFile: string;
  configFile: string;
}

export function labPaths(root = process.env.VB_LAB_DIR ?? '/var/tmp/virt-balancer-lab'): LabPaths {
  return {
    root,
    images: join(root, 'images'),
    consoles: join(root, 'consoles'),
    hosts: join(root, 'hosts'),
    stateFile: join(root, 'lab.json'),
    configFile: join(root, 'virt-balancer.yaml'),
  };
}

export function addressPrefix(): string {
  const prefix = process.env.VB_LAB_ADDRESS_PREFIX ?? '127.0.0.';
  if (!/^127\.\d{1,3}\.\d{1,3}\.$/.test(prefix)) {
    throw new Error(`VB_LAB_ADDRESS_PREFIX="${prefix}" is not a loopback prefix: use three octets in 127.0.0.0/8 with a trailing dot, e.g. "127.0.4."`);
  }
  return prefix;
}

/** Host i (0-based) listens on prefix + (11 + i): 127.0.0.11, .12, ... */
export function hostAddress(prefix: string, index: number): string {
  return `${prefix}${11 + index}`;
}

/**
 * Host i's second loopback address, its "migration network" (migration-tls.test.ts): prefix +
 * (111 + i). Nothing listens there unless a migration asks for it (VIR_MIGRATE_PARAM_LISTEN_ADDRESS).
 */
export function migrationHostAddress(prefix: string, index: number): string {
  return `${prefix}${111 + index}`;
}
