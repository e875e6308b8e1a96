/** How `history` prints the journal: one row per entry (time, event, VM, hosts, details). */
import type { JournalEntry } from '../history/index.js';

/** One journal entry as a history row: time, event, VM, hosts, details. */
export function describeEntry(e: JournalEntry): string[] {
  const at = new Date(e.atMs).toISOString().replace('T', ' ').replace(/\..*/, '');
  switch (e.type) {
    case 'planned':
      return [at, e.type, e.vm, `${e.from} -> ${e.to} ${e.technique}${e.dryRun ? ' (dry-run)' : ''}`, e.reason];
    case 'rejected':
      return [at, e.type, e.vm, `${e.from} -> ${e.to}`, e.reason];
    case 'started':
      return [at, e.type, e.vm, `${e.from} -> ${e.to} ${e.technique}`, ''];
    case 'adapted':
      return [at, e.type, e.vm, e.action, e.detail];
    case 'outcome':
      return [
        at,
        e.outcome,
        e.vm,
        `${e.from} -> ${e.to} ${e.technique}`,
        [
          e.totalMs !== undefined ? `${(e.totalMs / 1000).toFixed(2)} s` : '',
          e.downtimeMs !== undefined ? `${e.downtimeMs} ms down` : '',
          e.bytes !== undefined ? `${(e.bytes / 2 ** 20).toFixed(0)} MiB` : '',
          e.error ?? '',
          e.incident ? `INCIDENT: ${e.incident}` : '',
          e.adoptedAfterRestart ? 'seen to its end after a controller restart' : '',
        ]
          .filter(Boolean)
          .join(', '),
      ];
    case 'found-running-job':
      return [at, e.type, e.vm, e.host, 'job found running on the host; watched, not restarted'];
    case 'recommended':
      return [
        at,
        `recommended ${e.id}`,
        e.vm,
        `${e.from} -> ${e.to} ${e.technique}`,
        `${e.kind}, waits for approval until ${new Date(e.expiresAtMs).toISOString().replace('T', ' ').replace(/\..*/, '')}; ${e.reason}`,
      ];
    case 'approval':
      return [
        at,
        `approved ${e.id}`,
        e.vm,
        `${e.from} -> ${e.to}`,
        `by ${e.by}: ${e.decision === 'executed' ? `executed, ${e.outcome}` : 'refused'}${e.detail ? ` (${e.detail})` : ''}`,
      ];
    case 'recommendation-ended':
      return [
        at,
        `${e.status} ${e.id}`,
        e.vm,
        `${e.from} -> ${e.to}`,
        e.status === 'expired' ? 'not approved in time (policy.recommendationExpirySeconds)' : 'a later plan recommends another move of this VM',
      ];
    case 'power':
      return [
        at,
        `${e.action} ${e.event}${e.dryRun ? ' (dry-run)' : ''}`,
        '',
        `${e.host} (${e.method})`,
        [
          e.seconds !== undefined ? `${e.seconds.toFixed(1)} s` : '',
          // No status when it never ran or was killed: the detail says why (ENOENT, killed by SIGKILL).
          typeof e.exitCode === 'number' ? `exit ${e.exitCode}` : '',
          e.detail ?? '',
          e.stderr ? `stderr: ${e.stderr}` : '',
          e.reason ?? '',
          e.command ? `to run by hand: ${e.command}` : '',
        ]
          .filter(Boolean)
          .join(', '),
      ];
    case 'maintenance':
      return [
        at,
        `maintenance ${e.event}${e.step ? ` ${e.step}` : ''}`,
        '',
        e.host ?? (e.hosts ? e.hosts.join(', ') : ''),
        [
          e.seconds !== undefined ? `${e.seconds.toFixed(1)} s` : '',
          typeof e.exitCode === 'number' ? `exit ${e.exitCode}` : '',
          e.code ?? '',
          e.detail ?? '',
          e.moved?.length ? `moved: ${e.moved.join(', ')}` : '',
          e.stdoutTail ? `stdout: ${e.stdoutTail.split('\n').at(-1)}` : '',
          e.stderrTail ? `stderr: ${e.stderrTail.split('\n').at(-1)}` : '',
        ]
          .filter(Boolean)
          .join(', '),
      ];
  }
}
