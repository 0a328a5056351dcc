/** Compaction: copy live records to a new file, fsync, rename over the log, fsync the directory. */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { syncDirectory } from "../fsync.ts";
import type { AppendLog } from "./append-log.ts";
import type { IndexEntry, MailboxIndex } from "./mailbox-index.ts";

const COPY_BYTES = 4 << 20;

/** What one compaction did. */
export interface CompactionReport {
  bytesBefore: number;
  bytesAfter: number;
  liveRecords: number;
  milliseconds: number;
}

/** The temporary file a compaction writes; a leftover one is a crash mid-compaction and is removed on open. */
export const compactionPath = (logPath: string) => `${logPath}.compact`;

/**
 * Rewrites the log at `logPath` to hold only what `index` holds. Deposits and reads go on meanwhile:
 * only the final step (copy what was appended since the snapshot, rename, swap) holds the append queue.
 * `onStep` is a test hook awaited at each step.
 */
export async function compactLog(
  log: AppendLog,
  index: MailboxIndex,
  logPath: string,
  onStep: (step: string) => Promise<void> | void = () => {},
): Promise<CompactionReport> {
  const began = performance.now();
  const bytesBefore = log.size;
  const snapshotEnd = log.size;
  const live = [...index.entries()].sort((a, b) => a.offset - b.offset);
  const tempPath = compactionPath(logPath);
  const out = await open(tempPath, "w+");
  try {
    const { newOffsets, size: liveSize } = await copyLive(log, live, out);
    await onStep("compact:copied");
    await out.datasync();
    await onStep("compact:synced");
    return await log.exclusive(async () => {
      const tailSize = log.size - snapshotEnd;
      for (let done = 0; done < tailSize; done += COPY_BYTES) {
        const bytes = await log.read(snapshotEnd + done, Math.min(COPY_BYTES, tailSize - done));
        await writeAll(out, bytes, liveSize + done);
      }
      await out.datasync();
      await onStep("compact:tail-synced");
      await rename(tempPath, logPath);
      await onStep("compact:renamed");
      // Past the rename the new file is the log: finish the swap even if the directory fsync fails.
      await syncDirectory(dirname(logPath)).catch(() => {});
      await onStep("compact:dir-synced");
      // From here on, synchronously: point every entry at the new file, then swap the handle.
      const appended: IndexEntry[] = [];
      for (const entry of index.entries()) if (entry.offset >= snapshotEnd) appended.push(entry);
      live.forEach((entry, i) => (entry.offset = newOffsets[i]));
      for (const entry of appended) entry.offset += liveSize - snapshotEnd;
      await log.replaceWith(out, liveSize + tailSize);
      return { bytesBefore, bytesAfter: log.size, liveRecords: index.count, milliseconds: performance.now() - began };
    });
  } catch (error) {
    await out.close().catch(() => {});
    await rm(tempPath, { force: true });
    throw error;
  }
}

/** Copies the lines of `live` (sorted by offset) into `out`, reading neighbouring records in one go. */
async function copyLive(log: AppendLog, live: IndexEntry[], out: FileHandle) {
  const newOffsets = new Float64Array(live.length);
  let size = 0;
  for (let first = 0; first < live.length;) {
    let last = first;
    const from = live[first].offset;
    while (last + 1 < live.length && end(live[last + 1]) - from <= COPY_BYTES) last++;
    const bytes = await log.read(from, end(live[last]) - from);
    const batch = new Uint8Array(live.slice(first, last + 1).reduce((sum, entry) => sum + entry.length, 0));
    let at = 0;
    for (let i = first; i <= last; i++) {
      batch.set(bytes.subarray(live[i].offset - from, end(live[i]) - from), at);
      newOffsets[i] = size + at;
      at += live[i].length;
    }
    await writeAll(out, batch, size);
    size += batch.length;
    first = last + 1;
  }
  return { newOffsets, size };
}

const end = (entry: IndexEntry) => entry.offset + entry.length;

async function writeAll(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += (await file.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
  }
}
