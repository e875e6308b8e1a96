/**
 * Writing the journal: append-only JSON lines in <stateDir>/journal.jsonl of every decision and
 * outcome, rotated past a size bound.
 *
 * Writes are one line at a time, flushed to disk (fsync), to a file created 0600. A write that
 * fails (full filesystem, permissions) is retried, counted and logged, and the entry is kept to be
 * written later; from such a failure until a write succeeds the journal is not `writable` and the
 * executor starts no migration (a decision it cannot record is a decision it must not take).
 */
import { constants as fsConstants } from 'node:fs';
import { access, link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/catalog.js';
import { DurableAppender, ShortWriteError } from './durable-append.js';
import type { JournalEntry } from './journal-entries.js';
import { journalArchiveOf, readJournalHistory, readPlanningSet } from './journal-reader.js';

/** The filesystem operations the journal uses (injected in tests to simulate a full disk). */
export interface JournalFs {
  /**
   * Append `data` whole to `file` (creating it and its directory, file mode 0600) and fsync it.
   * A short write must reject (ShortWriteError) with the partial bytes removed, never resolve.
   */
  appendDurably(file: string, data: string): Promise<void>;
  /** The file's last byte, or undefined when it is empty or missing. */
  lastByte(file: string): Promise<number | undefined>;
  /** Close what is kept open for `file` (before it is renamed away, and at close). */
  release?(file: string): Promise<void>;
}

/** The journal's and the recommendations store's file operations on the real filesystem (see durable-append.ts). */
export function createJournalFs(appender = new DurableAppender()): JournalFs {
  return {
    appendDurably: (file, data) => appender.append(file, data),
    lastByte: (file) => appender.lastByte(file),
    release: (file) => appender.forget(file),
  };
}

export const nodeJournalFs: JournalFs = createJournalFs();

/** The journal cannot be written: the state directory is missing, read-only or full. */
export class JournalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JournalError';
  }
}

export interface JournalOptions {
  logger?: Logger;
  metrics?: Metrics;
  fs?: JournalFs;
  /** Waits between the attempts of one write while the journal was writable, ms. Default [100, 500, 2000]. */
  retryDelaysMs?: number[];
  /** While unwritable, how often the unwritten entries are tried again in the background, ms. Default 5000. */
  backgroundRetryMs?: number;
  /** Unwritten entries kept in memory at most; beyond it the oldest are dropped (logged). Default 10000. */
  maxUnwritten?: number;
  /**
   * Size bound of journal.jsonl, bytes. A write that takes it past this rotates it: the file is
   * kept as journal.1.jsonl (replacing the one before) and journal.jsonl starts again with the
   * entries planning needs (planning-set.ts). On disk: about twice this at most. Default 32 MiB.
   */
  maxBytes?: number;
}

/** Default size bound of journal.jsonl (JournalOptions.maxBytes). */
export const JOURNAL_MAX_BYTES = 32 * 2 ** 20;

const NEWLINE = 0x0a;

export class Journal {
  readonly file: string;
  private readonly fs: JournalFs;
  /** Lines not yet written, oldest first. */
  private readonly backlog: { line: string; entry: JournalEntry }[] = [];
  /** The chain of flushes; never rejects, so one failed write cannot poison the next. */
  private flushing: Promise<void> = Promise.resolve();
  /** Check that the file ends with a newline before the next write (at start and after a failed write). */
  private checkTail = true;
  private failure?: Error;
  private retryTimer?: NodeJS.Timeout;
  /** journal.jsonl's size as this process last knew it (undefined: not looked at yet), bytes. */
  private sizeBytes?: number;
  /** Rotate when the file passes this (moved on after a rotation that failed, so it is not tried on every write). */
  private rotateAtBytes: number;
  /** The previous journal, kept at rotation. */
  readonly archiveFile: string;

  constructor(
    stateDir: string,
    private readonly options: JournalOptions = {},
  ) {
    this.file = join(stateDir, 'journal.jsonl');
    this.archiveFile = journalArchiveOf(this.file);
    this.fs = options.fs ?? nodeJournalFs;
    this.rotateAtBytes = options.maxBytes ?? JOURNAL_MAX_BYTES;
    options.metrics?.journalWritable.set(1);
  }

  /**
   * False from a write that failed (after its retries) until a write succeeds again. An entry
   * merely queued behind a write in progress does not make the journal unwritable.
   */
  get writable(): boolean {
    return this.failure === undefined;
  }

  /** Why the journal is not writable (undefined while it is). */
  get lastError(): Error | undefined {
    return this.failure;
  }

  /**
   * Make sure the state directory exists (created 0700 if not) and the journal can be opened for
   * appending. Call at start: a daemon that cannot journal says so at once, not at its first move.
   * @throws JournalError naming the directory (stateDir) and what to do.
   */
  async checkWritable(): Promise<void> {
    const dir = dirname(this.file);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await access(dir, fsConstants.W_OK | fsConstants.X_OK);
      const handle = await open(this.file, 'a', 0o600);
      await handle.close();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const hint =
        code === 'EACCES' || code === 'EPERM'
          ? `run as a user that may write there, or set stateDir to a directory it owns`
          : code === 'EROFS'
            ? `the filesystem is read-only; set stateDir to a writable directory`
            : `set stateDir to a writable directory`;
      throw new JournalError(`cannot write the journal ${this.file} (stateDir ${dir}): ${(e as Error).message}; ${hint}`);
    }
  }

  /**
   * Queue an entry and write it. Never rejects: an entry that cannot be written now stays queued
   * (see `writable`) and is written when the filesystem allows.
   */
  append(entry: JournalEntry): Promise<void> {
    this.backlog.push({ line: JSON.stringify(entry) + '\n', entry });
    // Bounded memory through a long outage: days of a full disk lose the oldest entries, not the process.
    const excess = this.backlog.length - (this.options.maxUnwritten ?? 10_000);
    if (excess > 0) {
      const dropped = this.backlog.splice(0, excess);
      this.options.logger?.error(
        { file: this.file, dropped: dropped.length, oldest: dropped[0].entry },
        'journal entries dropped: too many could not be written',
      );
    }
    return this.flush();
  }

  /**
   * Write an entry and everything queued before it, flushed to disk, or throw: for the 'started'
   * entry a migration must not begin without. An entry that could not be written is dropped (the
   * migration it announces will not happen).
   * @throws JournalError when it is not on disk after the retries.
   */
  async appendDurably(entry: JournalEntry): Promise<void> {
    const item = { line: JSON.stringify(entry) + '\n', entry };
    this.backlog.push(item);
    await this.flush();
    const at = this.backlog.indexOf(item);
    if (at < 0) return;
    this.backlog.splice(at, 1);
    throw new JournalError(`cannot write the journal ${this.file}: ${this.failure?.message ?? 'unknown error'}`);
  }

  /** Every entry the journal still holds, across its last rotation (readJournalHistory; for `history` and tests); planning wants `readForPlanning`. */
  async read(): Promise<JournalEntry[]> {
    await this.flushing;
    return readJournalHistory(this.file, { warn: this.warn });
  }

  /**
   * The entries planning needs (planning-set.ts: recent and per-VM outcomes, unfinished starts,
   * power states), read as a stream: what start-up, `plan`, `drain` and `migrate` read, in time and
   * memory bounded by the windows, not by the journal's length.
   */
  async readForPlanning(): Promise<JournalEntry[]> {
    await this.flushing;
    return readPlanningSet(this.file, { warn: this.warn });
  }

  private readonly warn = (message: string): void => {
    if (this.options.logger) this.options.logger.warn(message);
    else process.emitWarning(message, 'JournalWarning');
  };

  /**
   * Wait for the write under way (one attempt when writes are failing), then stop the background
   * retry; entries still unwritten after that are logged as lost. Not waiting made every
   * short-lived command that journals log a false loss while its last write was in progress.
   */
  async close(): Promise<void> {
    await this.flushing;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    await this.fs.release?.(this.file);
    if (this.backlog.length > 0)
      this.options.logger?.error({ file: this.file, entries: this.backlog.length }, 'journal entries could not be written before exit');
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeBacklog());
    return this.flushing;
  }

  private async writeBacklog(): Promise<void> {
    // Already failing: one attempt per flush, the background retry does the waiting.
    const delays = this.failure ? [] : (this.options.retryDelaysMs ?? [100, 500, 2000]);
    for (let attempt = 0; this.backlog.length > 0; attempt++) {
      try {
        if (this.checkTail) {
          // A torn last line (crash or full disk mid-write) must not swallow the next entry.
          const last = await this.fs.lastByte(this.file);
          if (last !== undefined && last !== NEWLINE) await this.fs.appendDurably(this.file, '\n');
          this.checkTail = false;
        }
        const item = this.backlog[0];
        await this.fs.appendDurably(this.file, item.line);
        await this.afterWrite(Buffer.byteLength(item.line));
        // By identity: append() may have dropped old entries (maxUnwritten) during the write.
        const at = this.backlog.indexOf(item);
        if (at >= 0) this.backlog.splice(at, 1);
        if (this.failure) {
          this.options.logger?.info({ file: this.file }, 'the journal is writable again; migrations may start');
          this.failure = undefined;
          this.options.metrics?.journalWritable.set(1);
        }
      } catch (e) {
        this.checkTail = true;
        this.options.metrics?.journalWriteFailuresTotal.inc();
        if (e instanceof ShortWriteError) this.options.metrics?.journalShortWritesTotal.inc();
        const retryInMs = attempt < delays.length ? delays[attempt] : undefined;
        this.options.logger?.warn({ file: this.file, err: (e as Error).message, entry: this.backlog[0].entry.type, retryInMs }, 'journal write failed');
        if (retryInMs === undefined) {
          if (!this.failure)
            this.options.logger?.error(
              { file: this.file, err: (e as Error).message, unwritten: this.backlog.length },
              'the journal cannot be written; no migration starts until it can (entries are kept and written when it can)',
            );
          this.failure = e as Error;
          this.options.metrics?.journalWritable.set(0);
          this.scheduleRetry();
          return;
        }
        await new Promise((r) => setTimeout(r, retryInMs));
      }
    }
  }

  /** Track the file's size and rotate it past the bound; a rotation that fails is logged, never a failed write. */
  private async afterWrite(bytes: number): Promise<void> {
    if (this.sizeBytes === undefined) this.sizeBytes = (await stat(this.file).catch(() => undefined))?.size ?? bytes;
    else this.sizeBytes += bytes;
    if (this.sizeBytes <= this.rotateAtBytes) return;
    const maxBytes = this.options.maxBytes ?? JOURNAL_MAX_BYTES;
    try {
      await this.rotate();
      this.rotateAtBytes = Math.max(maxBytes, 2 * (this.sizeBytes ?? 0));
    } catch (e) {
      this.rotateAtBytes = this.sizeBytes + Math.ceil(maxBytes / 4);
      this.options.logger?.warn(
        { file: this.file, err: (e as Error).message, retryAtBytes: this.rotateAtBytes },
        'journal rotation failed; the journal keeps growing until it succeeds',
      );
    }
  }

  /**
   * journal.jsonl -> journal.1.jsonl, and a new journal.jsonl with the planning set, swapped in by
   * rename (a crash at any point leaves a whole journal.jsonl: the old one or the new one).
   */
  private async rotate(): Promise<void> {
    const before = this.sizeBytes;
    const kept = await readPlanningSet(this.file, { warn: this.warn });
    const next = `${this.file}.next`;
    const handle = await open(next, 'w', 0o600);
    try {
      await handle.writeFile(kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.fs.release?.(this.file);
    await rm(this.archiveFile, { force: true });
    await link(this.file, this.archiveFile);
    await rename(next, this.file);
    const dir = await open(dirname(this.file), 'r');
    await dir.sync().finally(() => dir.close());
    this.sizeBytes = (await stat(this.file)).size;
    this.options.metrics?.journalRotationsTotal.inc();
    this.options.logger?.info(
      { file: this.file, archive: this.archiveFile, bytesBefore: before, bytesAfter: this.sizeBytes, entriesKept: kept.length },
      'journal rotated: the entries planning needs carried over, the rest kept in the archive',
    );
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, this.options.backgroundRetryMs ?? 5000);
    this.retryTimer.unref();
  }
}
