/**
 * A VM's disks as its domain XML describes them, and which of them a storage copy must move.
 *
 * libvirt cannot tell whether a file is on host-local or shared storage (a path looks the same on
 * ext4 and on NFS), so whether a VM's disks are local is said by the operator (the `local-disks`
 * tag). Given that, the disks to copy are the ones a VM writes to and that live on a host: file,
 * block or pool-volume disks that are neither read-only nor shareable. Network disks (rbd, iscsi,
 * nbd, ...) are reached from every host and never copied; a read-only disk or CD-ROM is expected at
 * the same path on the target (libvirt refuses to copy it).
 */

export interface DomainDisk {
  /** Target device name (vda, sdb): what libvirt's `migrate_disks` parameter names. */
  target: string;
  /** Storage type: file, block, volume, network, dir, ... */
  type: string;
  /** disk, cdrom, floppy, lun */
  device: string;
  /** Source file or block device path; for pool volumes `pool/volume`. */
  source?: string;
  readonly: boolean;
  shareable: boolean;
}

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}=(?:'([^']*)'|"([^"]*)")`).exec(tag);
  return m ? unescapeXml(m[1] ?? m[2] ?? '') : undefined;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&apos;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The `<disk>` elements of a domain XML (libvirt's own output: no nested `<disk>` elements). */
export function parseDomainDisks(domainXml: string): DomainDisk[] {
  const disks: DomainDisk[] = [];
  for (const m of domainXml.matchAll(/<disk(\s[^>]*)>([\s\S]*?)<\/disk>/g)) {
    const open = m[1];
    const body = m[2];
    const type = attribute(open, 'type') ?? 'file';
    const sourceTag = /<source(\s[^>]*)?\/?>/.exec(body)?.[1] ?? '';
    let source: string | undefined;
    if (type === 'file') source = attribute(sourceTag, 'file');
    else if (type === 'block') source = attribute(sourceTag, 'dev');
    else if (type === 'dir') source = attribute(sourceTag, 'dir');
    else if (type === 'volume') {
      const pool = attribute(sourceTag, 'pool');
      const volume = attribute(sourceTag, 'volume');
      source = pool && volume ? `${pool}/${volume}` : undefined;
    } else if (type === 'network') source = attribute(sourceTag, 'name');
    const targetTag = /<target(\s[^>]*)\/?>/.exec(body)?.[1] ?? '';
    const target = attribute(targetTag, 'dev');
    if (!target) continue;
    disks.push({
      target,
      type,
      device: attribute(open, 'device') ?? 'disk',
      source: source || undefined,
      readonly: /<readonly\s*\/>/.test(body),
      shareable: /<shareable\s*\/>/.test(body),
    });
  }
  return disks;
}

/** The disks a storage copy moves: writable, unshared, host-local (file, block, pool volume) disks. */
export function disksToCopy(domainXml: string): DomainDisk[] {
  return parseDomainDisks(domainXml).filter(
    (d) => d.device === 'disk' && ['file', 'block', 'volume'].includes(d.type) && d.source !== undefined && !d.readonly && !d.shareable,
  );
}
