/** How `simulate` prints its ticks: a line per tick for a person, or JSON. */
import type { SimTick } from '../sim/simulator.js';

/** The ticks as `simulate --json` prints them (moves started, moves queued for a slot, host CPU, VMs considered and not moved with why, and the policy errors of each tick). */
export function simulationJson(ticks: readonly SimTick[]): unknown {
  return ticks.map((t) => ({
    tick: t.tick,
    imbalance: t.imbalance,
    hostCpu: t.hostCpu,
    inFlight: t.inFlight,
    moves: t.moves.map((m) => ({ vm: m.vmName, from: m.from, to: m.to, technique: m.technique, reason: m.reason })),
    queued: t.queued,
    recommended: t.recommended.map((m) => ({ vm: m.vmName, from: m.from, to: m.to, technique: m.technique, reason: m.reason })),
    skipped: t.skipped.map((x) => ({ vm: x.vmName, reason: x.reason })),
    policyErrors: t.policyErrors,
    notices: t.notices,
  }));
}

/**
 * The ticks as `simulate` prints them: one line per tick, then its moves, the VMs a policy
 * nominated that stay (with why; a reason repeated from the tick before is not printed again, only
 * counted as still holding) and
 * policy errors.
 */
export function renderSimulation(ticks: readonly SimTick[]): string {
  let out = '';
  let skippedBefore = new Set<string>();
  let noticesBefore = new Set<string>();
  for (const t of ticks) {
    const hosts = Object.entries(t.hostCpu)
      .map(([h, c]) => `${h} ${(c * 100).toFixed(0)}%`)
      .join('  ');
    out += `tick ${String(t.tick).padStart(3)}  imbalance ${t.imbalance.toFixed(3)}  ${hosts}${t.inFlight.length > 0 ? `  migrating: ${t.inFlight.join(', ')}` : ''}\n`;
    for (const m of t.moves) out += `          move ${m.vmName} ${m.from} -> ${m.to} by ${m.technique}: ${m.reason}\n`;
    // Over a migration budget (docs/scheduling.md): each starts when a running move ends.
    if (t.queued.length > 0) out += `          queued for a slot: ${t.queued.join(', ')}\n`;
    // What run records for approval (policy.automation, a VM's own automation): not run here.
    for (const m of t.recommended)
      out += `          recommend ${m.vmName} ${m.from} -> ${m.to} by ${m.technique} (waits for approval, not simulated): ${m.reason}\n`;
    const skipped = new Set(t.skipped.map((x) => `${x.vmName}: ${x.reason}`));
    for (const line of skipped) if (!skippedBefore.has(line)) out += `          stays ${line}\n`;
    // A notice repeated from the tick before is not printed again, as with the VMs that stay; a
    // line says how many still hold, so a quiet tick is not read as the problem gone.
    const notices = new Set((t.notices ?? []).map((n) => `notice (${n.source}): ${n.message}`));
    for (const line of notices) if (!noticesBefore.has(line)) out += `          ${line}\n`;
    const still = [...skipped].filter((l) => skippedBefore.has(l)).length;
    const stillNotices = [...notices].filter((l) => noticesBefore.has(l)).length;
    if (still + stillNotices > 0) {
      const parts = [
        still > 0 ? `${still} VM${still > 1 ? 's' : ''} still stay${still > 1 ? '' : 's'}` : '',
        stillNotices > 0 ? `${stillNotices} notice${stillNotices > 1 ? 's' : ''} still hold${stillNotices > 1 ? '' : 's'}` : '',
      ];
      out += `          (${parts.filter(Boolean).join(', ')} as on the tick before; --json lists every tick)\n`;
    }
    skippedBefore = skipped;
    noticesBefore = notices;
    // Policies are tested here (docs/policies.md): their errors must show, not only a quiet plan.
    for (const e of t.policyErrors) out += `          policy error: ${e.policy}${e.vm ? ` (vm ${e.vm}${e.host ? ` -> ${e.host}` : ''})` : ''}: ${e.message}\n`;
  }
  return out;
}
