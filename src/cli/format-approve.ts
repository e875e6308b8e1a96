/** How `approve` prints each approval as it ends, and its JSON. */
import type { ApprovalReport, ApproveHooks } from '../controller/workflows/approve.js';
import { err, out } from './output.js';

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

/** What `approve` prints as its approvals go (nothing with --json): waits and starts on stderr, each end on stdout. */
export function approvalHooks(text: boolean, by: string): ApproveHooks {
  if (!text) return {};
  return {
    onWait: (id, reason) => err(`${id}: waiting for a slot: ${reason}\n`),
    onStart: (r) => err(`${r.id}: ${r.move.vmName} ${r.move.from} -> ${r.move.to} with ${r.move.technique} (approved by ${by})\n`),
    onReport: (r) => out(describeApproval(r)),
  };
}
