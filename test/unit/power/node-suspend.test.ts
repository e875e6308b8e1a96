import { afterEach, describe, expect, it } from 'vitest';
import { parseHostCapabilities } from '../../../src/cluster/capabilities.js';
import { LibvirtConnection } from '../../../src/libvirt/index.js';
import { Proc } from '../../../src/libvirt/protocol.js';
import { XdrReader, XdrWriter } from '../../../src/libvirt/xdr.js';
import { suspendHost } from '../../../src/power/node-suspend.js';
import { startFakeDaemon, type FakeDaemon } from '../libvirt/fake-daemon.js';

// Node suspend is proved on the wire against the fake daemon only: called against a lab host it
// would suspend this machine (the lab's libvirtd daemons run on it).
const caps = (pm: string) => `<capabilities><host><uuid>2b1c0f9e-1111-4222-8333-444455556666</uuid><cpu><arch>x86_64</arch></cpu>${pm}</host></capabilities>`;

describe('virNodeSuspendForDuration on the wire', () => {
  let daemon: FakeDaemon | undefined;
  let conn: LibvirtConnection | undefined;
  afterEach(async () => {
    await conn?.close();
    await daemon?.close();
  });

  async function open(pm: string) {
    const calls: { target: number; duration: bigint; flags: number }[] = [];
    daemon = await startFakeDaemon({
      libvirtVersion: 11_003_000,
      hypervisorVersion: 10_000_000,
      onCall: (call) => {
        if (call.procedure === Proc.CONNECT_GET_CAPABILITIES) call.reply(new XdrWriter().string(caps(pm)).toBuffer());
        if (call.procedure === Proc.NODE_SUSPEND_FOR_DURATION) {
          const r = new XdrReader(call.payload);
          calls.push({ target: r.uint(), duration: r.uhyper(), flags: r.uint() });
          call.reply();
        }
      },
    });
    conn = await LibvirtConnection.open(daemon.uri, { keepaliveIntervalSeconds: 0 });
    return calls;
  }

  it('sends remote_node_suspend_for_duration_args (procedure 250): target, duration as unsigned hyper, flags 0', async () => {
    const calls = await open('<power_management><suspend_mem/><suspend_disk/><suspend_hybrid/></power_management>');
    expect(Proc.NODE_SUSPEND_FOR_DURATION).toBe(250);
    await suspendHost('kvm2', conn!, 'disk', 3600);
    await suspendHost('kvm2', conn!, 'mem', 5_000_000_000);
    expect(calls).toEqual([
      { target: 1, duration: 3600n, flags: 0 },
      { target: 0, duration: 5_000_000_000n, flags: 0 },
    ]);
  });

  it('refuses a target the capabilities do not list under <power_management>, without calling libvirt', async () => {
    const calls = await open('<power_management><suspend_disk/></power_management>');
    await expect(suspendHost('kvm2', conn!, 'mem', 3600)).rejects.toThrow(
      "host kvm2 cannot suspend to mem: its capabilities' <power_management> lists suspend_disk; set power.suspend.target to one it lists, or use power.action: command",
    );
    expect(calls).toEqual([]);
  });

  it('reads the suspend targets of capabilities (an empty <power_management/> lists none)', () => {
    expect(parseHostCapabilities(caps('<power_management><suspend_mem/><suspend_hybrid/></power_management>')).suspendTargets).toEqual(['mem', 'hybrid']);
    expect(parseHostCapabilities(caps('<power_management/>')).suspendTargets).toEqual([]);
  });
});
