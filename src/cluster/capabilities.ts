/** What virt-balancer reads from a host's capabilities XML (virConnectGetCapabilities) besides its CPU. */

export interface HostCapabilities {
  /** `<host><uuid>`: libvirt's host UUID (SMBIOS, or libvirtd.conf host_uuid). */
  uuid?: string;
  /** Hugepage sizes the host supports, KiB (the `<pages>` sizes above the base page). */
  hugepageSizesKiB: number[];
  /** Pages reserved per hugepage size, summed over NUMA cells (`<cell><pages size=...>N</pages>`). */
  hugepageTotals: Map<number, number>;
  /** NUMA cells (`<cells num=...>`), 1 when the host reports none. */
  cellCount: number;
  /** Each NUMA cell's id and logical CPU ids (`<cell id><cpus><cpu id>`); empty when the host reports no cells. */
  cells: { id: number; cpuIds: number[] }[];
  /**
   * Node suspend targets the host supports (`<power_management>`: `<suspend_mem/>`,
   * `<suspend_disk/>`, `<suspend_hybrid/>`); empty when it lists none (the element is empty when
   * the host cannot suspend, e.g. no pm-utils or systemd-sleep support).
   */
  suspendTargets: SuspendTarget[];
}

/** A virNodeSuspendTarget by its capabilities name. */
export type SuspendTarget = 'mem' | 'disk' | 'hybrid';

export function parseHostCapabilities(xml: string): HostCapabilities {
  const host = /<host>([\s\S]*?)<\/host>/.exec(xml)?.[1] ?? '';
  const uuid = /<uuid>([^<]+)<\/uuid>/.exec(host)?.[1]?.trim().toLowerCase();
  const cpu = /<cpu>([\s\S]*?)<\/cpu>/.exec(host)?.[1] ?? '';
  const sizes = [...cpu.matchAll(/<pages\s[^>]*size=['"](\d+)['"][^>]*\/>/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
  // The smallest size is the base page (4 KiB on x86-64); the others are hugepages.
  const hugepageSizesKiB = sizes.slice(1);
  const hugepageTotals = new Map<number, number>(hugepageSizesKiB.map((s) => [s, 0]));
  const cells = [...host.matchAll(/<cell\s[^>]*id=['"](\d+)['"][^>]*>([\s\S]*?)<\/cell>/g)];
  for (const cell of cells) {
    for (const m of cell[2].matchAll(/<pages\s[^>]*size=['"](\d+)['"][^>]*>(\d+)<\/pages>/g)) {
      const size = Number(m[1]);
      if (hugepageTotals.has(size)) hugepageTotals.set(size, hugepageTotals.get(size)! + Number(m[2]));
    }
  }
  const pm = /<power_management>([\s\S]*?)<\/power_management>/.exec(host)?.[1] ?? '';
  const suspendTargets = [...pm.matchAll(/<suspend_(mem|disk|hybrid)\s*\/>/g)].map((m) => m[1] as SuspendTarget);
  const cellCpus = cells.map((c) => ({ id: Number(c[1]), cpuIds: [...c[2].matchAll(/<cpu\s[^>]*\bid=['"](\d+)['"]/g)].map((m) => Number(m[1])) }));
  return { uuid, hugepageSizesKiB, hugepageTotals, cellCount: Math.max(1, cells.length), cells: cellCpus, suspendTargets };
}
