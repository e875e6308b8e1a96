/**
 * Appending whole lines to a file, durably: the one write path of the journal and the
 * recommendations store (`JournalFs`).
 *
 * - A short write (fewer bytes than asked, as write(2) may return on a full filesystem) is an
 *   error, `ShortWriteError`: the file is cut back to its size before the write, so a torn entry
 *   never stays on disk and the caller retries the whole line. Node's `FileHandle.write` reports
 *   `bytesWritten` and never retries the rest by itself.
 * - The file stays open between writes (one descriptor per file, reopened when the path names
 *   another file or a write failed): a process whose other descriptors ran out (EMFILE, e.g. a
 *   flood of HTTP connections) can still journal.
 */
import type { Stats } from 'node:fs';
import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A write that put fewer bytes on disk than the line has; the file was cut back before it. */
export class ShortWriteError extends Error {
  constructor(
    readonly file: string,
    readonly bytesWritten: number,
    readonly bytesWanted: number,
    cause?: Error,
  ) {
    super(`short write to ${file}: ${bytesWritten} of ${bytesWanted} bytes${cause ? ` (${cause.message})` : ''}; the partial entry was removed`);
    this.name = 'ShortWriteError';
  }
}

/** The part of a FileHandle the appender uses (a test gives one that writes short or fails). */
export interface AppendHandle {
  stat(): Promise<Pick<Stats, 'size' | 'dev' | 'ino'>>;
  write(buffer: Buffer, offset: number, length: number, position: null): Promise<{ bytesWritten: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens `file` for appending and reading, creating it 0600. */
export type OpenForAppend = (file: string) => Promise<AppendHandle>;

const openNode: OpenForAppend = async (file) => (await open(file, 'a+', 0o600)) as FileHandle as AppendHandle;

/** Appends lines to files, each fsynced, keeping one open descriptor per file. */
export class DurableAppender {
  private readonly handles = new Map<string, AppendHandle>();

  constructor(private readonly openFile: OpenForAppend = openNode) {}

  /**
   * Append `data` whole to `file` (creating it 0600 and its directory 0700) and fsync it.
   * @throws ShortWriteError when fewer bytes went to disk (the file is cut back first); any
   * other error of open/write/fsync as it came (ENOSPC, EACCES, EMFILE when nothing is open yet).
   */
  async append(file: string, data: string): Promise<void> {
    const handle = await this.handle(file);
    const bytes = Buffer.from(data, 'utf8');
    let sizeBefore: number | undefined;
    let written = 0;
    try {
      sizeBefore = (await handle.stat()).size;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, null);
        written += bytesWritten;
        if (written < bytes.length) throw new ShortWriteError(file, written, bytes.length);
      }
      await handle.sync();
    } catch (e) {
      const error = e instanceof ShortWriteError || written === 0 ? (e as Error) : new ShortWriteError(file, written, bytes.length, e as Error);
      // Cut the torn entry off; if even that fails, the reader skips a torn line and the next write starts on a new line.
      if (sizeBefore !== undefined && written > 0) await handle.truncate(sizeBefore).catch(() => {});
      await this.forget(file);
      throw error;
    }
  }

  /** The file's last byte, or undefined when it is empty or missing. */
  async lastByte(file: string): Promise<number | undefined> {
    try {
      await stat(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const handle = await this.handle(file);
    const { size } = await handle.stat();
    if (size === 0) return undefined;
    const buffer = Buffer.alloc(1);
    await handle.read(buffer, 0, 1, size - 1);
    return buffer[0];
  }

  /** Close the descriptor kept for `file` (before renaming it away, or at exit). */
  async forget(file: string): Promise<void> {
    const handle = this.handles.get(file);
    this.handles.delete(file);
    await handle?.close().catch(() => {});
  }

  private async handle(file: string): Promise<AppendHandle> {
    const kept = this.handles.get(file);
    if (kept) {
      // The path may name another file now (rotated, deleted, replaced by a link): follow the path.
      const [onDisk, open] = await Promise.all([stat(file).catch(() => undefined), kept.stat().catch(() => undefined)]);
      if (onDisk && open && onDisk.ino === open.ino && onDisk.dev === open.dev) return kept;
      await this.forget(file);
    }
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const handle = await this.openFile(file);
    this.handles.set(file, handle);
    return handle;
  }
}
