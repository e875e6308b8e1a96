/**
 * `npm run lab -- up --hosts 3 --vms demo`, `npm run lab -- status`, `npm run lab -- down`,
 * plus `create-vm` and `heartbeat` for poking at one guest by hand.
 */
import { Command, InvalidArgumentError } from 'commander';
import { ensureLabPackages } from './install.js';
import { Lab } from './lab.js';
import { demoProfiles, type VmProfile } from './vm.js';

function int(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`"${value}" is not a number`);
  return n;
}

const log = (m: string) => console.log(`[lab] ${m}`);
const program = new Command().name('npm run lab --').description('virt-balancer lab: real libvirt + QEMU hosts on this machine');

program
  .command('install')
  .description('install the Debian packages the lab and the tests need, when missing (root)')
  .action(async () => {
    await ensureLabPackages(log, 'tests');
    log('everything the lab and the tests need is installed');
  });

program
  .command('up')
  .description('bring up lab hosts (idempotent) and optionally a VM set')
  .option('--hosts <n>', 'number of hosts', int, 3)
  .option('--vms <set>', 'VM set to create: demo | none', 'none')
  .action(async (o: { hosts: number; vms: string }) => {
    if (o.vms !== 'demo' && o.vms !== 'none') throw new InvalidArgumentError(`--vms ${o.vms}: use demo or none`);
    const started = Date.now();
    const lab = new Lab();
    await lab.up({ hosts: o.hosts, vms: o.vms === 'demo' ? demoProfiles() : [], log });
    log(`lab up in ${((Date.now() - started) / 1000).toFixed(1)} s; config for virt-balancer: ${lab.paths.configFile}`);
  });

program
  .command('status')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const lab = new Lab();
    await lab.attach();
    const s = await lab.status();
    if (o.json) return console.log(JSON.stringify(s, null, 2));
    for (const h of s.hosts) console.log(`${h.name.padEnd(6)} ${h.uri.padEnd(32)} ${h.up ? 'up' : 'DOWN'}  guests=${h.guests}`);
    for (const v of s.vms) console.log(`  ${v.name.padEnd(12)} on ${v.host.padEnd(6)} ${v.state.padEnd(10)} ${v.heartbeat.line || 'no heartbeat'}`);
  });

program
  .command('create-vm <name>')
  .requiredOption('--host <host>', 'lab host, e.g. lab1')
  .option('--vcpus <n>', 'vCPUs', int, 1)
  .option('--memory <MiB>', 'guest memory, MiB', int, 256)
  .option('--cpu <percent>', 'CPU busy percent', int, 10)
  .option('--dirty <MiBps>', 'page dirtying rate, MiB/s', int, 0)
  .option('--workload <MiB>', 'memory the workload fills and checks, MiB', int)
  .action(async (name: string, o: { host: string; vcpus: number; memory: number; cpu: number; dirty: number; workload?: number }) => {
    const lab = new Lab();
    await lab.attach();
    const profile: VmProfile = { name, host: o.host, vcpus: o.vcpus, memoryMiB: o.memory, cpuBusyPercent: o.cpu, dirtyMiBps: o.dirty, workloadMiB: o.workload };
    const beat = await lab.createVm(profile);
    log(`${name} running on ${o.host}: ${beat.line}`);
  });

program.command('destroy-vm <name>').action(async (name: string) => {
  const lab = new Lab();
  await lab.attach();
  await lab.destroyVm(name);
});

program.command('heartbeat <name>').action(async (name: string) => {
  const lab = new Lab();
  await lab.attach();
  console.log(JSON.stringify(await lab.heartbeat(name)));
});

program
  .command('down')
  .description('stop every guest and daemon the lab started and remove its state')
  .action(async () => {
    await new Lab().down();
    log('lab down');
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`lab: ${e.message}`);
  process.exit(1);
});
