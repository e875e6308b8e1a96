/**
 * What a VM's domain XML says about where it can go: the hugepages backing its memory, and what
 * keeps it from migrating at all. Read from libvirt's own XML output (one element per line, no
 * nesting of the elements matched here).
 */
import { createHash } from 'node:crypto';
import { parseDomainDisks } from './disks.js';

/** Hugepage size used when `<hugepages/>` names none: the kernel's default on x86-64 (2 MiB). */
export const DEFAULT_HUGEPAGE_SIZE_KIB = 2048;

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}=(?:'([^']*)'|"([^"]*)")`).exec(tag);
  return m ? (m[1] ?? m[2]) : undefined;
}

// libvirt's scaled-integer units (docs/formatdomain: "unit" of memory elements), in bytes.
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  bytes: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
};

/**
 * Size of the hugepages backing guest memory, KiB, or undefined when the domain uses ordinary
 * memory. `<hugepages/>` alone means the host's default size (taken as DEFAULT_HUGEPAGE_SIZE_KIB);
 * with several `<page>` elements for different nodesets the one without a nodeset, else the first.
 */
export function hugepageSizeKiB(domainXml: string): number | undefined {
  const backing = /<memoryBacking>([\s\S]*?)<\/memoryBacking>/.exec(domainXml)?.[1];
  if (!backing || !/<hugepages\s*\/?>/.test(backing)) return undefined;
  const pages = [...backing.matchAll(/<page(\s[^>]*)\/?>/g)].map((m) => m[1]);
  const page = pages.find((p) => attribute(p, 'nodeset') === undefined) ?? pages[0];
  if (!page) return DEFAULT_HUGEPAGE_SIZE_KIB;
  const size = Number(attribute(page, 'size'));
  const unit = UNIT_BYTES[(attribute(page, 'unit') ?? 'KiB').toLowerCase()];
  if (!Number.isFinite(size) || size <= 0 || !unit) return DEFAULT_HUGEPAGE_SIZE_KIB;
  return Math.round((size * unit) / 1024);
}

/**
 * What in the definition keeps libvirt from migrating the domain, one reason each (libvirt's
 * qemuMigrationSrcIsAllowed and qemuMigrationSrcIsAllowedHostdev refuse these before any data
 * moves): host devices other than USB (PCI passthrough, SR-IOV VFs as `<interface
 * type='hostdev'>`, SCSI, mediated devices), ivshmem `<shmem>`, virtiofs shares and TPM
 * passthrough. With `localDisks` (the VM's disks are on host-local storage), a read-only disk or
 * CD-ROM with a local image too: libvirt copies only writable disks, so the target would need the
 * same file at the same path.
 */
export function migrationBlockers(domainXml: string, localDisks: boolean): string[] {
  const blockers: string[] = [];
  for (const m of domainXml.matchAll(/<hostdev(\s[^>]*)>/g)) {
    const mode = attribute(m[1], 'mode') ?? 'subsystem';
    const type = attribute(m[1], 'type') ?? '?';
    if (mode === 'subsystem' && type === 'usb') continue;
    blockers.push(
      `host device <hostdev mode='${mode}' type='${type}'> (${type === 'pci' ? 'PCI passthrough' : 'assigned host device'}): libvirt does not migrate a domain with assigned non-USB host devices`,
    );
  }
  for (const m of domainXml.matchAll(/<interface(\s[^>]*)>/g)) {
    if (attribute(m[1], 'type') === 'hostdev') blockers.push(`<interface type='hostdev'> (an SR-IOV function passed through): libvirt does not migrate it`);
  }
  if (/<shmem[\s>]/.test(domainXml)) blockers.push('shared memory device <shmem>: libvirt does not migrate it');
  for (const m of domainXml.matchAll(/<filesystem(\s[^>]*)?>([\s\S]*?)<\/filesystem>/g)) {
    if (/<driver\s[^>]*type=['"]virtiofs['"]/.test(m[2]))
      blockers.push("virtiofs share <filesystem> with <driver type='virtiofs'>: libvirt does not migrate it");
  }
  for (const m of domainXml.matchAll(/<tpm(\s[^>]*)?>([\s\S]*?)<\/tpm>/g)) {
    if (/<backend\s[^>]*type=['"]passthrough['"]/.test(m[2])) blockers.push("TPM passthrough <tpm><backend type='passthrough'>: libvirt does not migrate it");
  }
  if (localDisks) {
    for (const disk of parseDomainDisks(domainXml)) {
      if ((disk.device === 'cdrom' || disk.device === 'floppy' || disk.readonly) && disk.type === 'file' && disk.source) {
        blockers.push(
          `${disk.device} ${disk.target} (${disk.source}) is a read-only image on host-local storage (tag local-disks): libvirt copies only writable disks, so the target needs the same file; eject it or put it on shared storage`,
        );
      }
    }
  }
  return blockers;
}

/**
 * A fingerprint of the definition, for noticing that a VM changed (a device detached, its XML
 * edited): the live XML without the parts that change on their own while it runs (balloon size).
 */
export function definitionFingerprint(domainXml: string): string {
  const stable = domainXml.replace(/<currentMemory[^>]*>[^<]*<\/currentMemory>/, '');
  // The first 8 bytes in hex, made as one flat string: slice() of the 64-digit hex would keep all
  // of it alive beside each VM for the VM's life.
  return createHash('sha256').update(stable).digest().toString('hex', 0, 8);
}
