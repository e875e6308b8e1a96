/** How `approve` prints each approval as it ends, and its JSON. */
import type { ApprovalReport } from '../controller/workflows/approve.js';

/** The line for one approval (stdout), as it ends. */
export function describeApproval(r: ApprovalReport): string {
  switch (r.code) {
    case 'host-unreachable':
      return `${r.id}: not checked, ${r.detail}\n`;
    case 'cannot-start':
      return `${r.id}: not started, ${r.detail}\n`;
    case 'stale':
      return `${r.id}: refused, ${r.vm} ${r.from} -> ${r.to} is ${r.detail}\n`;
    case 'executed':
      return `${r.id}: ${r.detail}${r.incident ? `\n  INCIDENT: ${r.incident}` : ''}\n`;
  }
}

/** `approve --json`: one object per approval; `decision` not-checked when it stays waiting. */
export function approvalJson(reports: readonly ApprovalReport[]) {
  const decision = { executed: 'executed', stale: 'refused', 'host-unreachable': 'not-checked', 'cannot-start': 'not-checked' } as const;
  return reports.map((r) => ({ id: r.id, vm: r.vm, from: r.from, to: r.to, decision: decision[r.code], outcome: r.outcome, detail: r.detail }));
}
