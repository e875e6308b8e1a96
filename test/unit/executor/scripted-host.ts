/**
 * A scripted libvirt connection for the executor's phase tests: answers from a script (the VM's
 * state there, its job type, what perform does) and counts aborts, switches and performs.
 */
import { EventEmitter } from 'node:events';
import { LibvirtError, type LibvirtConnection } from '../../../src/libvirt/index.js';

export const UUID = '11111111-2222-3333-4444-555555555555';
export const noDomain = () => new LibvirtError({ code: 42, domain: 10, message: `Domain not found: no domain with matching uuid '${UUID}'`, level: 2 });
// libvirt 11.3 / QEMU 10.0 (post-copy recovery known broken there), and 10.0 where it works.
export const V11_3 = { libvirtVersion: 11_003_000, hypervisorVersion: 10_000_002 };

/** A connection that answers from a script: `vm` is the VM's state there (undefined: not defined), `job` its job type. */
export class ScriptedHost extends EventEmitter {
  vm: { state: number; reason: number } | undefined;
  job = 0;
  closed = false;
  versions = V11_3;
  aborts = 0;
  performed: number[] = [];
  perform: () => Promise<void> = async () => {};
  constructor(vm?: { state: number; reason: number }) {
    super();
    this.vm = vm;
  }
  async domainLookupByUuid(uuid: string) {
    if (!this.vm) throw noDomain();
    return { name: 'vm1', uuid, id: 1 };
  }
  async domainGetState() {
    if (!this.vm) throw noDomain();
    return this.vm;
  }
  async domainGetJobStats(_dom: unknown, flags = 0) {
    return { type: flags ? 3 : this.job, params: flags ? { time_elapsed: 4200, downtime: 42 } : { memory_iteration: 2 } };
  }
  async domainAbortJob() {
    this.aborts++;
  }
  async subscribeDomainEvents() {}
  async domainMigrateSetMaxDowntime() {}
  async domainGetXmlDesc() {
    return '<domain/>';
  }
  switches = 0;
  async domainMigrateStartPostCopy() {
    this.switches++;
  }
  async domainMigratePerform3Params(_d: unknown, _u: string, _p: unknown, flags: number) {
    this.performed.push(flags);
    return this.perform();
  }
}
export const asConn = (h: ScriptedHost) => h as unknown as LibvirtConnection;
export const RUNNING = { state: 1, reason: 1 };
