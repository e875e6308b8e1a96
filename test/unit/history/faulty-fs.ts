/**
 * A filesystem that runs out of space or descriptors on demand, for the journal's tests: real
 * files underneath, with a byte quota (a write crossing it puts only the bytes that fit on disk and
 * reports a short count, as write(2) does on a full filesystem; the next write fails ENOSPC) and
 * switchable EMFILE on open.
 */
import { open } from 'node:fs/promises';
import type { AppendHandle, OpenForAppend } from '../../../src/history/durable-append.js';

export interface FaultyFs {
  open: OpenForAppend;
  /** Bytes that may still be written (Infinity: no limit). */
  quotaBytes: number;
  /** open() fails with EMFILE while true. */
  emfile: boolean;
  /** Every write call and the bytes it asked for / got. */
  writes: { asked: number; written: number }[];
  opens: number;
}

const errno = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code });

export function faultyFs(quotaBytes = Number.POSITIVE_INFINITY): FaultyFs {
  const fs: FaultyFs = {
    quotaBytes,
    emfile: false,
    writes: [],
    opens: 0,
    open: async (file) => {
      if (fs.emfile) throw errno('EMFILE', `too many open files, open '${file}'`);
      fs.opens++;
      const real = await open(file, 'a+', 0o600);
      const handle: AppendHandle = {
        stat: () => real.stat(),
        read: (b, o, l, p) => real.read(b, o, l, p),
        sync: () => real.sync(),
        truncate: (n) => real.truncate(n),
        close: () => real.close(),
        write: async (buffer, offset, length) => {
          if (fs.quotaBytes <= 0) {
            fs.writes.push({ asked: length, written: 0 });
            throw errno('ENOSPC', 'no space left on device, write');
          }
          const n = Math.min(length, fs.quotaBytes);
          const { bytesWritten } = await real.write(buffer, offset, n, null);
          fs.quotaBytes -= bytesWritten;
          fs.writes.push({ asked: length, written: bytesWritten });
          return { bytesWritten };
        },
      };
      return handle;
    },
  };
  return fs;
}
