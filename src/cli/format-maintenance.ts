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

/** The whole sequence a roll would run, with predicted durations. */
export function renderMaintenanceDryRun(d: MaintenanceDryRun): string {
  const lines = [
    `maintenance roll ${d.rollId}${d.resumed ? ' (unfinished: resumed from here)' : ' (new)'}: ${d.hosts.map((h) => h.host).join(' -> ') || 'nothing left to do'}`,
    `hook: ${d.hook ? d.hook.join(' ') : 'none'} (timeout ${d.hookTimeoutSeconds} s); health wait up to ${d.healthyTimeoutSeconds} s; VMs ${d.returnVms ? 'return home' : 'stay where the drain put them'}`,
  ];
  let total = 0;
  for (const [i, h] of d.hosts.entries()) {
    lines.push('', `${i + 1}. ${h.host}: ${h.steps.join(' -> ')}`);
    if (h.refused) lines.push(`   STOPS here: ${h.refused}`);
    if (h.moves.length)
      lines.push(
        table(
          ['vm', 'to', 'technique', 'predicted s', 'downtime ms'],
          h.moves.map((m) => [m.vm, m.to, m.technique, m.predictedSeconds.toFixed(1), m.predictedDowntimeMs.toFixed(0)]),
        ).replace(/^/gm, '   '),
      );
    else if (!h.refused) lines.push('   no VM to move');
    for (const s of h.skipped) lines.push(`   STOPS here (drain-cannot-place): ${s.vm}: ${s.reason}`);
    const drain = h.predictedDrainSeconds;
    total += drain * (d.returnVms ? 2 : 1);
    lines.push(
      `   predicted: drain ${drain.toFixed(1)} s${d.returnVms ? `, return about the same (${drain.toFixed(1)} s)` : ''} (moves one at a time; they run in parallel within the migration limits) + the hook`,
    );
  }
  lines.push('', `predicted migration time in all: ${total.toFixed(1)} s, plus each host's hook and restart`);
  return `${lines.join('\n')}\n`;
}
