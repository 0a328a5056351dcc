/** Compaction: copy live records to a new file, fsync, rename over the log, fsync the directory. */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { concatBytes } from "../bytes.ts";
import { syncDirectory } from "../fsync.ts";
import type { AppendLog } from "./append-log.ts";
import { type Line, readLines, splitLines } from "./line-reader.ts";
import type { IndexEntry, MailboxIndex } from "./mailbox-index.ts";
import { decodeHeader } from "./records.ts";

/** What one compaction did. */
export interface CompactionReport {
  bytesBefore: number;
  bytesAfter: number;
  liveRecords: number;
  milliseconds: number;
}

/** The temporary file a compaction writes; a leftover one is a crash mid-compaction and is removed on open. */
export const compactionPath = (logPath: string) => `${logPath}.compact`;

const NEWLINE = Uint8Array.of(10);

/** The index entry (and its mailbox) of a put line, when the index points at that very line. */
function indexedEntry(index: MailboxIndex, line: Line): { entry: IndexEntry; mailbox: string } | undefined {
  let record;
  try {
    record = decodeHeader(line.bytes);
  } catch {
    return undefined; // damaged: never copied
  }
  const entry = record.k === "put" ? index.find(record.mb, record.id) : undefined;
  return entry?.offset === line.offset ? { entry, mailbox: record.mb } : undefined;
}

/**
 * Rewrites the log at `logPath` to hold only the unexpired messages `index` points at. Deposits and
 * reads go on meanwhile: the walk over the old file runs chunk by chunk, and only the last step
 * (copy what was appended since, rename, swap) holds the append queue. `onStep` is a test hook.
 */
export async function compactLog(
  log: AppendLog,
  index: MailboxIndex,
  options: { logPath: string; now: number; onStep?(step: string): Promise<void> | void },
): Promise<CompactionReport> {
  const began = performance.now();
  const { logPath, now, onStep = () => {} } = options;
  const snapshotEnd = log.size;
  const tempPath = compactionPath(logPath);
  const out = await open(tempPath, "w+");
  const moved: IndexEntry[] = [];
  const newOffsets: number[] = [];
  let size = 0;
  try {
    for await (const lines of readLines((at, length) => log.read(at, length), 0, snapshotEnd)) {
      const parts: Uint8Array[] = [];
      const chunkStart = size;
      for (const line of lines) {
        const found = indexedEntry(index, line);
        if (!found) continue;
        if (found.entry.expiresAt <= now) {
          index.remove(found.mailbox, found.entry.id);
          continue;
        }
        moved.push(found.entry);
        newOffsets.push(size);
        parts.push(line.bytes, NEWLINE);
        size += found.entry.length;
      }
      await writeAll(out, concatBytes(parts), chunkStart);
    }
    await onStep("compact:copied");
    await out.datasync();
    await onStep("compact:synced");
    return await log.exclusive(async () => {
      // Records appended since the walk began are copied as they are, shifted by the bytes dropped.
      const tail = log.size > snapshotEnd ? await log.read(snapshotEnd, log.size - snapshotEnd) : new Uint8Array(0);
      const appended = splitLines(tail, snapshotEnd).lines.flatMap((line) => indexedEntry(index, line)?.entry ?? []);
      await writeAll(out, tail, size);
      await out.datasync();
      await onStep("compact:tail-synced");
      await rename(tempPath, logPath);
      await onStep("compact:renamed");
      // Past the rename the new file is the log: finish the swap even if the directory fsync fails.
      await syncDirectory(dirname(logPath)).catch(() => {});
      await onStep("compact:dir-synced");
      // From here to the swap, synchronously: point every entry at the new file.
      for (const entry of appended) entry.offset += size - snapshotEnd;
      moved.forEach((entry, i) => (entry.offset = newOffsets[i]));
      await log.replaceWith(out, size + tail.length);
      return { bytesBefore: snapshotEnd + tail.length, bytesAfter: log.size, liveRecords: index.count, milliseconds: performance.now() - began };
    });
  } catch (error) {
    await out.close().catch(() => {});
    await rm(tempPath, { force: true });
    throw error;
  }
}

async function writeAll(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += (await file.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
  }
}
