/**
 * The lab: N real libvirt + QEMU hosts on this machine, with guests whose workload proves on its
 * console that its memory is intact. One API for tests, the demo and the benchmarks; the CLI in
 * cli.ts is a thin shell over it. The lab manages itself with virsh, not with our own libvirt
 * client, so it can check that client independently.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildGuestImage, type GuestImage } from './image.js';
import { describeHost, guestPids, hostRunning, prepareHost, startHost, stopHost, stopLibvirtd, waitForHost, type LabHost } from './hosts.js';
import { ensureLabPackages } from './install.js';
import { addressPrefix, hostAddress, labPaths, type LabPaths } from './paths.js';
import { sleep, virsh } from './run.js';
import { domainXml, type VmProfile } from './vm.js';

export type { LabHost } from './hosts.js';
export type { VmProfile } from './vm.js';

export interface Heartbeat {
  seq: number;
  status: 'OK' | 'CORRUPT' | 'NONE';
  /** Milliseconds since the console file was last written. */
  ageMs: number;
  line: string;
  /** The guest kernel printed a panic or oops. */
  panicked: boolean;
}

interface LabState {
  hosts: LabHost[];
  addressPrefix: string;
  startedAt: string;
}

export interface UpOptions {
  hosts?: number;
  vms?: VmProfile[];
  log?: (message: string) => void;
}

export class Lab {
  readonly paths: LabPaths;
  hosts: LabHost[] = [];
  private image?: GuestImage;

  /** root: state directory (default VB_LAB_DIR); prefix: loopback prefix (default VB_LAB_ADDRESS_PREFIX). */
  constructor(
    root?: string,
    private readonly prefix?: string,
  ) {
    this.paths = labPaths(root);
  }

  /** Bring the lab up (idempotent): image, hosts, config file, then the requested VMs. */
  async up(options: UpOptions = {}): Promise<void> {
    const log = options.log ?? (() => {});
    const hostCount = options.hosts ?? 3;
    if (!Number.isInteger(hostCount) || hostCount < 1 || hostCount > 40) {
      throw new Error(`--hosts ${hostCount}: use a whole number from 1 to 40`);
    }
    await ensureLabPackages(log);
    await mkdir(this.paths.consoles, { recursive: true });
    this.image = await buildGuestImage(this.paths.images, log);
    const prefix = this.prefix ?? addressPrefix();
    const previous = await this.readState();
    if (previous && previous.addressPrefix !== prefix) {
      throw new Error(
        `the lab in ${this.paths.root} runs on ${previous.addressPrefix}x, not ${prefix}x: run \`npm run lab -- down\` first or set VB_LAB_DIR to another directory`,
      );
    }
    const hosts: LabHost[] = [];
    for (let i = 0; i < Math.max(hostCount, previous?.hosts.length ?? 0); i++) {
      hosts.push(await prepareHost(describeHost(this.paths.hosts, i, hostAddress(prefix, i))));
    }
    // Start hosts one after another: parallel libvirtd starts on 2 cores gain little.
    for (const host of hosts) {
      const started = Date.now();
      if (!(await hostRunning(host))) {
        await startHost(host);
        log(`host ${host.name} up at ${host.uri} (${Date.now() - started} ms)`);
      }
    }
    this.hosts = hosts;
    await this.writeState({ hosts, addressPrefix: prefix, startedAt: previous?.startedAt ?? new Date().toISOString() });
    await this.writeConfig();
    for (const vm of options.vms ?? []) {
      if (await this.whereIs(vm.name)) continue;
      const started = Date.now();
      await this.createVm(vm);
      log(`vm ${vm.name} on ${vm.host}: heartbeat OK after ${Date.now() - started} ms`);
    }
  }

  /** Attach to a lab that is already up. */
  async attach(): Promise<void> {
    const state = await this.readState();
    if (!state) throw new Error(`no lab in ${this.paths.root}: run \`npm run lab -- up\` first`);
    this.hosts = state.hosts;
    this.image = { kernel: join(this.paths.images, 'vmlinuz'), initrd: join(this.paths.images, 'initrd.img') };
  }

  /** Stop every guest and daemon the lab started (by pid) and remove its host state. */
  async down(): Promise<void> {
    const state = await this.readState();
    const hosts = state?.hosts ?? [];
    for (const host of hosts) await stopHost(host);
    await rm(this.paths.hosts, { recursive: true, force: true });
    await rm(this.paths.consoles, { recursive: true, force: true });
    await rm(this.paths.stateFile, { force: true });
    await rm(this.paths.configFile, { force: true });
    this.hosts = [];
  }

  host(name: string): LabHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`no lab host "${name}": hosts are ${this.hosts.map((h) => h.name).join(', ')}`);
    return host;
  }

  consolePath(vmName: string): string {
    return join(this.paths.consoles, `${vmName}.log`);
  }

  /** Define and start a VM, and wait for its first heartbeat (boot to workload). */
  async createVm(profile: VmProfile): Promise<Heartbeat> {
    const host = await this.defineVm(profile);
    await virsh(host.uri, ['start', profile.name]);
    return this.waitForHeartbeat(profile.name, { afterSeq: 0, timeoutMs: 120_000 });
  }

  /** Define a VM on its host without starting it (a shut-off guest, with no boot to wait for). */
  async defineVm(profile: VmProfile): Promise<LabHost> {
    if (!this.image) await this.attach();
    const host = this.host(profile.host);
    const existing = await this.whereIs(profile.name);
    if (existing) throw new Error(`VM ${profile.name} already runs on ${existing}: destroy it first`);
    await this.undefineEverywhere(profile.name);
    await rm(this.consolePath(profile.name), { force: true });
    const xmlFile = join(host.dir, `${profile.name}.xml`);
    await writeFile(xmlFile, domainXml(profile, this.image!, this.consolePath(profile.name)));
    await virsh(host.uri, ['define', xmlFile]);
    return host;
  }

  /** Destroy and undefine a VM wherever it is. */
  async destroyVm(name: string): Promise<void> {
    for (const host of this.hosts) {
      try {
        await virsh(host.uri, ['destroy', name], 30_000);
      } catch {
        /* not running there */
      }
    }
    await this.undefineEverywhere(name);
  }

  private async undefineEverywhere(name: string): Promise<void> {
    for (const host of this.hosts) {
      try {
        await virsh(host.uri, ['undefine', name], 30_000);
      } catch {
        /* not defined there */
      }
    }
  }

  /** Host the VM is running (or paused) on, if any. */
  async whereIs(name: string): Promise<string | undefined> {
    for (const host of this.hosts) {
      try {
        const { stdout } = await virsh(host.uri, ['domstate', name], 15_000);
        const state = stdout.trim();
        if (state === 'running' || state === 'paused' || state === 'in shutdown') return host.name;
      } catch {
        /* unknown there, or the host is down */
      }
    }
    return undefined;
  }

  /** VM names per host, as virsh lists them (all states). */
  async listVms(): Promise<{ host: string; name: string; state: string }[]> {
    const out: { host: string; name: string; state: string }[] = [];
    for (const host of this.hosts) {
      try {
        const { stdout } = await virsh(host.uri, ['list', '--all'], 15_000);
        for (const line of stdout.split('\n')) {
          const m = line.trim().match(/^(\S+)\s+(\S+)\s+(.+)$/);
          if (m) out.push({ host: host.name, name: m[2], state: m[3].trim() });
        }
      } catch {
        /* host down */
      }
    }
    return out;
  }

  async heartbeat(name: string): Promise<Heartbeat> {
    const file = this.consolePath(name);
    if (!existsSync(file)) return { seq: 0, status: 'NONE', ageMs: Infinity, line: '', panicked: false };
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    const panicked = /Kernel panic|general protection fault|BUG: |Oops:/.test(text);
    const lines = text.split('\n').filter((l) => l.includes('VB-HEARTBEAT'));
    const ageMs = Date.now() - info.mtimeMs;
    if (lines.length === 0) return { seq: 0, status: 'NONE', ageMs, line: '', panicked };
    const line = lines[lines.length - 1].trim();
    const seq = Number(line.match(/seq=(\d+)/)?.[1] ?? 0);
    const corrupt = lines.some((l) => l.includes('status=CORRUPT'));
    return { seq, status: corrupt || panicked ? 'CORRUPT' : 'OK', ageMs, line, panicked };
  }

  /** Wait for a heartbeat newer than afterSeq; throws on corruption, a panic or a timeout. */
  async waitForHeartbeat(name: string, options: { afterSeq?: number; timeoutMs?: number } = {}): Promise<Heartbeat> {
    const afterSeq = options.afterSeq ?? (await this.heartbeat(name)).seq;
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const beat = await this.heartbeat(name);
      if (beat.status === 'CORRUPT') {
        throw new Error(`VM ${name}: guest memory check failed or the guest crashed: ${beat.line || 'kernel panic'} (console: ${this.consolePath(name)})`);
      }
      if (beat.seq > afterSeq) return beat;
      if (Date.now() > deadline) {
        throw new Error(
          `VM ${name}: no heartbeat after seq ${afterSeq} within ${options.timeoutMs ?? 60_000} ms (last: ${beat.line || 'none'}; console: ${this.consolePath(name)})`,
        );
      }
      await sleep(200);
    }
  }

  /** Kill one host's libvirtd (guests keep running), as a crashed daemon. */
  async stopHost(name: string): Promise<void> {
    await stopLibvirtd(this.host(name));
  }

  /** Restart one host's libvirtd in its namespace; it finds its running guests again. */
  async startHost(name: string): Promise<void> {
    await startHost(this.host(name));
    await waitForHost(this.host(name), 60_000);
  }

  async status(): Promise<{
    hosts: { name: string; uri: string; up: boolean; guests: number }[];
    vms: { host: string; name: string; state: string; heartbeat: Heartbeat }[];
  }> {
    const hosts = [];
    for (const host of this.hosts) {
      hosts.push({ name: host.name, uri: host.uri, up: await hostRunning(host), guests: (await guestPids(host)).length });
    }
    const vms = [];
    for (const vm of await this.listVms()) vms.push({ ...vm, heartbeat: await this.heartbeat(vm.name) });
    return { hosts, vms };
  }

  private async readState(): Promise<LabState | undefined> {
    if (!existsSync(this.paths.stateFile)) return undefined;
    return JSON.parse(await readFile(this.paths.stateFile, 'utf8')) as LabState;
  }

  private async writeState(state: LabState): Promise<void> {
    await mkdir(this.paths.root, { recursive: true });
    await writeFile(this.paths.stateFile, JSON.stringify(state, null, 2) + '\n');
  }

  /**
   * A virt-balancer config describing the lab. Every lab host shares one kernel, so node counters
   * are the same on each: give each host a capacity so utilisation comes from its own VMs.
   */
  private async writeConfig(): Promise<void> {
    const lines = ['# Written by the virt-balancer lab; describes its hosts.', 'hosts:'];
    for (const host of this.hosts) {
      lines.push(`  - name: ${host.name}`, `    uri: ${host.uri}`, '    capacity:', '      cpuCount: 4', '      memoryMiB: 4096');
    }
    lines.push(`stateDir: ${join(this.paths.root, 'state')}`, '');
    await writeFile(this.paths.configFile, lines.join('\n'));
  }
}

/** Attach to the running lab (VB_LAB_DIR, default /var/tmp/virt-balancer-lab). */
export async function labFromEnv(): Promise<Lab> {
  const lab = new Lab();
  await lab.attach();
  return lab;
}
