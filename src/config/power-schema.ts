/**
 * `power:` — what happens to a host that consolidation (policy.goal consolidate) emptied: nothing
 * (`none`), an operator's command (IPMI, Wake-on-LAN, a BMC's API...), or libvirt's node suspend.
 * docs/policies.md ("Power actions and standby") says what each costs.
 */
import { basename, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { seconds } from './durations.js';

/** Placeholders a power command's arguments may hold, replaced per host (src/power/command.ts). */
export const POWER_PLACEHOLDERS = ['{name}', '{address}', '{uri}'] as const;

const OFF_EXAMPLE = '["ipmitool", "-H", "{address}", "chassis", "power", "soft"]';
const ON_EXAMPLE = '["ipmitool", "-H", "{address}", "chassis", "power", "on"]';

/**
 * A power command's argv; `example` is shown in its errors. The program must be an absolute path
 * or a bare name looked up on PATH: a relative path would be taken from the service's working
 * directory, not the config's (check-config checks that the program exists: powerProgramProblems).
 */
export const commandArgv = (example: string) =>
  z.array(z.string().min(1, 'an empty argument; remove it')).superRefine((args, ctx) => {
    if (args.length === 0) {
      ctx.addIssue({ code: 'custom', message: `is an empty list; give at least the program, e.g. ${example}` });
      return;
    }
    const program = args[0]!;
    if (program.includes('/') && !isAbsolute(program))
      ctx.addIssue({
        code: 'custom',
        path: [0],
        message: `is a relative path (${program}): it would be taken from the service's working directory, not the config's; give an absolute path (e.g. ${join('/usr/local/bin', basename(program))}), or a bare name found on PATH`,
      });
    args.forEach((arg, i) => {
      // Only `{identifier}` is a placeholder: other braces (a Redfish JSON body) are literal text.
      for (const m of arg.matchAll(/\{([A-Za-z_]\w*)\}/g)) {
        if (!(POWER_PLACEHOLDERS as readonly string[]).includes(m[0]))
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `unknown placeholder ${m[0]} in "${arg}"; the placeholders are ${POWER_PLACEHOLDERS.join(', ')}`,
          });
      }
    });
  });

export const powerSchema = z
  .strictObject({
    action: z
      .enum(['none', 'command', 'node-suspend'])
      .default('none')
      .describe(
        'What is done to a host consolidation emptied (policy.goal consolidate). `none` (default): it stays up, idle, a target like any other. `command`: run powerOffCommand, then the host is standby until powerOnCommand wakes it. `node-suspend`: libvirt suspends the host (virNodeSuspendForDuration, suspend.target); its RTC alarm wakes it after suspend.durationSeconds, earlier only through powerOnCommand (e.g. Wake-on-LAN).',
      ),
    powerOffCommand: commandArgv(OFF_EXAMPLE)
      .optional()
      .describe(
        'action command: the program and its arguments that power a host down, run without a shell (execFile); `{name}`, `{address}` (the host\'s powerAddress, default the host part of its uri) and `{uri}` are replaced, e.g. ["ipmitool", "-I", "lanplus", "-H", "{address}", "-U", "admin", "-f", "/etc/virt-balancer/ipmi-pass", "chassis", "power", "soft"]. Exit status 0 is success.',
      ),
    powerOnCommand: commandArgv(ON_EXAMPLE)
      .optional()
      .describe(
        'The program and its arguments that power a standby host up (action command; with node-suspend the only way to wake it before its alarm), placeholders as powerOffCommand, e.g. ["wakeonlan", "{address}"] with powerAddress the MAC address.',
      ),
    commandTimeoutSeconds: seconds().positive().default(60).describe('A power command still running after this long is killed (SIGKILL) and counts as failed.'),
    suspend: z
      .strictObject({
        target: z
          .enum(['mem', 'disk', 'hybrid'])
          .default('mem')
          .describe("action node-suspend: VIR_NODE_SUSPEND_TARGET_MEM, _DISK or _HYBRID; the host's capabilities must list it under <power_management>."),
        durationSeconds: seconds()
          .int()
          .min(60, "libvirt's minimum suspend duration is 60 s")
          .default(3600)
          .describe('action node-suspend: the host wakes by its RTC alarm after this long (libvirt: at least 60 s), then counts as awake again.'),
        wakeByAlarmOnly: z
          .boolean()
          .default(false)
          .describe(
            'action node-suspend without powerOnCommand: accept that a suspended host wakes only when its alarm fires (durationSeconds), so capacity cannot be woken when the cluster needs it.',
          ),
      })
      .default({ target: 'mem', durationSeconds: 3600, wakeByAlarmOnly: false })
      .describe('Settings of action node-suspend.'),
    powerOffTimeoutSeconds: seconds()
      .positive()
      .default(300)
      .describe(
        'After the power-off action succeeded, the host must stop answering libvirt within this long; otherwise the power-off counts as failed and the host is awake (a target) again.',
      ),
    wakeTimeoutSeconds: seconds()
      .positive()
      .default(600)
      .describe(
        'After the power-on action, the host must answer libvirt again within this long before it is a target; otherwise the power-on counts as failed and it stays standby.',
      ),
    minStandbySeconds: seconds()
      .min(0)
      .default(600)
      .describe(
        'Anti-flapping: a host is not woken within this long after it went standby (or after a failed wake), unless a must-move (maintenance, a rule) has no other target.',
      ),
    minAwakeSeconds: seconds()
      .min(0)
      .default(1800)
      .describe(
        'Anti-flapping: a host woken (or back from standby) is not powered down again within this long, nor a host whose power-off failed tried again.',
      ),
    minAwakeHosts: z.number().int().min(1).default(1).describe('Hosts (up, not in maintenance) that stay awake whatever consolidation empties.'),
  })
  .superRefine((p, ctx) => {
    if (p.action === 'command') {
      for (const field of ['powerOffCommand', 'powerOnCommand'] as const)
        if (!p[field])
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `is required with action command: the program and arguments that power a host ${field === 'powerOffCommand' ? 'down' : 'up'}, e.g. ${field === 'powerOffCommand' ? OFF_EXAMPLE : ON_EXAMPLE}`,
          });
    }
    if (p.action === 'none')
      for (const field of ['powerOffCommand', 'powerOnCommand'] as const)
        if (p[field])
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: 'is not used with action none (no host is powered down or woken); remove it, or set action: command (or node-suspend) to use it',
          });
    if (p.action === 'node-suspend' && p.powerOffCommand)
      ctx.addIssue({
        code: 'custom',
        path: ['powerOffCommand'],
        message: 'is not used with action node-suspend (libvirt suspends the host); remove it, or set action: command',
      });
    if (p.action === 'node-suspend' && !p.powerOnCommand && !p.suspend.wakeByAlarmOnly)
      ctx.addIssue({
        code: 'custom',
        path: ['powerOnCommand'],
        message: `is required with action node-suspend: a suspended host wakes only by its RTC alarm after suspend.durationSeconds (${p.suspend.durationSeconds} s), so without a wake command (e.g. ["wakeonlan", "{address}"]) capacity cannot be woken when needed; give one, or set suspend.wakeByAlarmOnly: true to accept that`,
      });
  });

export type PowerConfig = z.infer<typeof powerSchema>;

/**
 * What the schema cannot see once its defaults are applied: a `suspend:` section written with an
 * action other than node-suspend would be silently ignored. `raw` is the `power:` mapping as written.
 */
export function ignoredPowerSettingProblems(raw: unknown, power: PowerConfig): { path: string; message: string }[] {
  const written = raw && typeof raw === 'object' ? (raw as { suspend?: unknown }) : {};
  if (written.suspend === undefined || power.action === 'node-suspend') return [];
  return [
    { path: 'power.suspend', message: `is read only with action node-suspend (action is ${power.action}); remove it, or set power.action: node-suspend` },
  ];
}
