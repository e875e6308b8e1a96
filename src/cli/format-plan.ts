/** How `plan` (and `drain --dry-run`) print a plan: a table for people, JSON for scripts. */
import type { ClusterState } from '../cluster/model.js';
import type { Plan } from '../policy/index.js';
import type { PowerPlan } from '../power/manager.js';
import { table } from './format.js';

import { hostStatus } from '../controller/json-shapes.js';

export { hostStatus, planJson } from '../controller/json-shapes.js';

/** The warning a plan with policy timeouts starts with: "no moves" must not read as "nothing to do". */
export function timeoutWarning(p: Plan): string | undefined {
  const timeouts = p.timeouts ?? [];
  if (timeouts.length === 0) return undefined;
  const calls = [...new Set(timeouts.map((t) => `${t.policy} ${t.point}`))];
  return `INCOMPLETE PLAN: ${timeouts.length} policy call${timeouts.length > 1 ? 's' : ''} ran past policy.policyTimeoutMs (${timeouts[0].timeoutMs} ms): ${calls.join(', ')}. What they would have nominated or allowed is missing from the moves below; make the policy faster or raise policy.policyTimeoutMs.`;
}

/** The plan as `plan` prints it; `state` adds the hosts that could not be read, first; `power` the planned power actions, last. */
export function renderPlan(p: Plan, state?: Pick<ClusterState, 'hosts'>, power?: PowerPlan): string {
  const out: string[] = [];
  const statuses = state ? hostStatus(state) : [];
  const standby = statuses.filter((h) => h.power && !h.up);
  if (standby.length > 0)
    out.push(
      'Standby (down on purpose by a power action; no target until woken, not an alarm):',
      table(
        ['host', 'state'],
        standby.map((h) => [h.host, h.downReason ?? h.power!]),
      ),
      '',
    );
  const down = statuses.filter((h) => !h.up && !h.power);
  if (down.length > 0)
    out.push(
      `Not read (their VMs are not planned for, and they are no target):`,
      table(
        ['host', 'why'],
        down.map((h) => [h.host, h.downReason ?? '']),
      ),
      '',
    );
  const warning = timeoutWarning(p);
  if (warning) out.push(warning, '');
  // Rules that cannot be met come first: "No moves" must not read as "all is well".
  for (const n of p.notices ?? []) out.push(`NOTICE (${n.source}): ${n.message}`);
  if ((p.notices ?? []).length > 0) out.push('');
  out.push(`imbalance ${p.imbalanceBefore.toFixed(3)} -> ${p.imbalanceAfter.toFixed(3)} (std-dev of host CPU utilisation)`, '');
  if (p.moves.length === 0) out.push('No moves.');
  else
    out.push(
      table(
        ['vm', 'from', 'to', 'technique', 'total s', 'downtime ms', 'MiB', 'link MiB/s', 'reason'],
        p.moves.map((m) => [
          m.vmName,
          m.from,
          m.to,
          m.technique,
          m.predicted.totalSeconds.toFixed(1),
          m.predicted.downtimeMs.toFixed(0),
          (m.predicted.bytes / 2 ** 20).toFixed(0),
          `${m.inputs.bandwidthMiBps.toFixed(0)}${m.inputs.bandwidthMeasured ? ' (measured)' : ''}`,
          m.reason,
        ]),
      ),
    );
  if (p.skipped.length > 0)
    out.push(
      '',
      'Considered, not moved:',
      table(
        ['vm', 'why'],
        p.skipped.map((s) => [s.vmName, s.reason]),
      ),
    );
  if (p.policyErrors.length > 0)
    out.push(
      '',
      'Policy errors:',
      table(
        ['policy', 'vm', 'host', 'problem'],
        p.policyErrors.map((e) => [e.policy, e.vm ?? '', e.host ?? '', e.message]),
      ),
    );
  if (power && (power.actions.length > 0 || power.held.length > 0)) {
    out.push('', 'Power actions:');
    if (power.actions.length > 0)
      out.push(
        table(
          ['host', 'action', 'would be', 'reason'],
          power.actions.map((a) => [a.host, a.action, a.mode === 'run' ? 'run' : 'recommended (policy.automation)', a.reason]),
        ),
      );
    for (const a of power.actions) if (a.mode === 'recommended' && a.command) out.push(`to ${a.action} ${a.host} by hand: ${a.command}`);
    for (const h of power.held) out.push(`held: ${h.host}: ${h.reason}`);
  }
  return out.join('\n');
}
