/** How `maintenance` prints: each journaled step as one line, the result, and the dry run's sequence. */
import type { MaintenanceDryRun } from '../controller/workflows/maintenance-here.js';
import type { RollResult } from '../controller/workflows/maintenance.js';
import type { MaintenanceJournalEntry } from '../history/index.js';
import { table } from './format.js';

/** One step as it is journaled: "[2/3 lab2] hook done (3.1 s, exit 0)". */
export function describeRollEntry(e: MaintenanceJournalEntry, position?: { index: number; of: number }): string {
  const where = position ? `[${position.index}/${position.of} ${e.host}] ` : '';
  const what = e.step && e.event.startsWith('step-') ? `${e.step} ${e.event.replace('step-', '')}` : e.event;
  const details = [
    e.seconds !== undefined ? `${e.seconds.toFixed(1)} s` : '',
    typeof e.exitCode === 'number' ? `exit ${e.exitCode}` : '',
    e.moved?.length ? `moved ${e.moved.join(', ')}` : '',
    e.event === 'roll-started' ? `roll ${e.rollId}: ${e.hosts?.join(', ')}${e.returnVms ? ', VMs return' : ''}` : '',
    e.code ?? '',
    e.detail ?? '',
  ].filter(Boolean);
  return `${where}${what}${details.length ? ` (${details.join('; ')})` : ''}\n`;
}

/** The roll's end in one or two lines. */
export function renderRollResult(r: RollResult): string {
  if (r.ok) return `maintenance roll ${r.rollId} finished: ${r.hosts.join(', ')}\n`;
  const stop = r.stop!;
  return `maintenance roll ${r.rollId} STOPPED at ${stop.host}, step ${stop.step}: ${stop.code}\n  ${stop.detail}\n`;
}

/** The whole sequence a roll would run, simulated in order, with predicted durations, and where it would stop. */
export function renderMaintenanceDryRun(d: MaintenanceDryRun): string {
  const lines = [
    `maintenance roll ${d.rollId}${d.resumed ? ' (unfinished: resumed from here)' : ' (new)'}: ${d.hosts.map((h) => h.host).join(' -> ') || 'nothing left to do'}`,
    `hook: ${d.hook ? d.hook.join(' ') : 'none'} (timeout ${d.hookTimeoutSeconds} s); health wait up to ${d.healthyTimeoutSeconds} s; VMs ${d.returnVms ? 'return home' : 'stay where the drain put them'}`,
    "each host planned on the cluster the earlier hosts' drains (and returns) left",
  ];
  const moveTable = (moves: MaintenanceDryRun['hosts'][number]['moves']) =>
    table(
      ['vm', 'from', 'to', 'technique', 'predicted s', 'downtime ms'],
      moves.map((m) => [m.vm, m.from, m.to, m.technique, m.predictedSeconds.toFixed(1), m.predictedDowntimeMs.toFixed(0)]),
    ).replace(/^/gm, '   ');
  let total = 0;
  for (const [i, h] of d.hosts.entries()) {
    lines.push('', `${i + 1}. ${h.host}: ${h.steps.join(' -> ')}`);
    if (h.resumedAfter) lines.push(`   resumed after: ${h.resumedAfter.join(', ')} (done)`);
    if (h.waitsForHost) lines.push('   down now: the roll waits for it to be healthy, then returns its VMs');
    if (h.refused) lines.push(`   cannot drain: ${h.refused}`);
    if (h.moves.length) lines.push('   drain:', moveTable(h.moves));
    else if (!h.refused && h.skipped.length === 0 && !h.resumedAfter) lines.push('   no VM to move');
    for (const s of h.skipped) lines.push(`   not placed: ${s.vm}: ${s.reason}`);
    if (h.returns.length) lines.push('   return:', moveTable(h.returns));
    for (const n of h.notReturned) lines.push(`   not returned: ${n.vm}: ${n.reason}`);
    total += h.predictedDrainSeconds + h.predictedReturnSeconds;
    lines.push(
      `   predicted: drain ${h.predictedDrainSeconds.toFixed(1)} s${d.returnVms ? `, return ${h.predictedReturnSeconds.toFixed(1)} s` : ''} (moves one at a time; they run in parallel within the migration limits) + the hook`,
    );
  }
  if (d.stop) lines.push('', `the roll would STOP at ${d.stop.host}, step ${d.stop.step}: ${d.stop.code}`, `  ${d.stop.detail}`);
  else lines.push('', `predicted migration time in all: ${total.toFixed(1)} s, plus each host's hook and restart`);
  return `${lines.join('\n')}\n`;
}
