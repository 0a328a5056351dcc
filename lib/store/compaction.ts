/** Compaction: copy live records to a new file, fsync, rename over the log, fsync the directory. */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { concatBytes } from "../bytes.ts";
import { appendTo } from "../collections.ts";
import { syncDirectory, writeAll } from "../fsync.ts";
import type { AppendLog } from "./append-log.ts";
import { chunkBytes, type Line, readLines } from "./line-reader.ts";
import { type MailboxIndex, Relocation } from "./mailbox-index.ts";
import { decodeHeader, isPutLine } from "./records.ts";

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
/** Bytes read and written at a time: larger writes stall Bun's event loop (measured: 4 MiB → 20-30 ms). */
const CHUNK_BYTES = 512 << 10;
/** Sync the new file every so often, so the last fsync is short and does not hold deposits' fsyncs back. */
const SYNC_EVERY_BYTES = 2 << 20;

/** For each line, its slot when it is the very put line the index points at, else -1; one index pass per mailbox. */
function indexedSlots(index: MailboxIndex, lines: Line[]): number[] {
  const puts = new Map<string, { at: number; id: string }[]>();
  lines.forEach((line, at) => {
    if (!isPutLine(line.bytes)) return; // a del record is never copied
    let record;
    try {
      record = decodeHeader(line.bytes, false); // payloads were checked when the log was opened
    } catch {
      return; // damaged: never copied
    }
    appendTo(puts, record.mb, { at, id: record.id });
  });
  const slots = lines.map(() => -1);
  for (const [mailbox, records] of puts) {
    const found = index.findAll(mailbox, records.map((record) => record.id));
    records.forEach(({ at }, i) => {
      if (found[i] >= 0 && index.offsetOf(found[i]) === lines[at].offset) slots[at] = found[i];
    });
  }
  return slots;
}

/** The new log file: positional writes, synced every {@link SYNC_EVERY_BYTES} so that no sync is long. */
class CompactedFile {
  #unsynced = 0;

  constructor(readonly file: FileHandle) {}

  async write(bytes: Uint8Array, position: number): Promise<void> {
    await writeAll(this.file, bytes, position);
    this.#unsynced += bytes.length;
    if (this.#unsynced > SYNC_EVERY_BYTES) await this.sync();
  }

  async sync(): Promise<void> {
    await this.file.datasync();
    this.#unsynced = 0;
  }
}

/**
 * Rewrites the log at `logPath` to hold only the messages `index` points at (sweep expired ones from
 * the index first). Deposits and
 * reads go on meanwhile: the walk over the old file runs chunk by chunk, what was appended since is
 * copied in catch-up rounds, and only the last few records, the rename and the swap hold the append
 * queue. `onStep` is a test hook.
 */
export async function compactLog(
  log: AppendLog,
  index: MailboxIndex,
  options: {
    logPath: string;
    onStep?(step: string): Promise<void> | void;
  },
): Promise<CompactionReport> {
  const began = performance.now();
  const { logPath, onStep = () => {} } = options;
  const snapshotEnd = log.size;
  const tempPath = compactionPath(logPath);
  const out = new CompactedFile(await open(tempPath, "w+", 0o600));
  try {
    const relocation = new Relocation();
    const size = await copyLive(log, index, out, { end: snapshotEnd, relocation });
    // Records appended meanwhile are copied as they are, in catch-up rounds, shifted by the bytes dropped.
    let copiedEnd = snapshotEnd;
    const catchUp = async (to: number) => {
      await copyAppended(log, index, out, { from: copiedEnd, to, shift: size - snapshotEnd, relocation });
      copiedEnd = to;
    };
    while (log.size - copiedEnd > CHUNK_BYTES) await catchUp(log.size);
    await onStep("compact:copied");
    await out.sync();
    await onStep("compact:synced");
    return await log.exclusive(async () => {
      await catchUp(log.size);
      await out.sync();
      await onStep("compact:tail-synced");
      await rename(tempPath, logPath);
      await onStep("compact:renamed");
      // Past the rename the new file is the log: finish the swap even if the directory fsync fails.
      await syncDirectory(dirname(logPath)).catch(() => {});
      await onStep("compact:dir-synced");
      // Synchronously, so no read sees new offsets with the old file: relocate, then swap.
      index.relocate(relocation);
      log.replaceWith(out.file, size + copiedEnd - snapshotEnd);
      return { bytesBefore: copiedEnd, bytesAfter: log.size, liveRecords: index.count, milliseconds: performance.now() - began };
    });
  } catch (error) {
    await out.file.close().catch(() => {});
    await rm(tempPath, { force: true });
    throw error;
  }
}

/** Copies the indexed put lines of [0, end) to `out`. */
async function copyLive(
  log: AppendLog,
  index: MailboxIndex,
  out: CompactedFile,
  walk: { end: number; relocation: Relocation },
): Promise<number> {
  let size = 0;
  for await (const lines of readLines(log.readInto, 0, walk.end, CHUNK_BYTES)) {
    const parts: Uint8Array[] = [];
    const chunkStart = size;
    const slots = indexedSlots(index, lines);
    for (const [at, line] of lines.entries()) {
      if (slots[at] < 0) continue;
      walk.relocation.set(slots[at], size);
      parts.push(line.bytes, NEWLINE);
      size += line.bytes.length + 1;
    }
    await out.write(concatBytes(parts), chunkStart);
  }
  return size;
}

/** Copies [from, to) of the log verbatim to `out`, `shift` bytes earlier than in the log, a chunk at a time. */
async function copyAppended(
  log: AppendLog,
  index: MailboxIndex,
  out: CompactedFile,
  range: { from: number; to: number; shift: number; relocation: Relocation },
): Promise<void> {
  for await (const lines of readLines(log.readInto, range.from, range.to, CHUNK_BYTES)) {
    const slots = indexedSlots(index, lines);
    lines.forEach((line, at) => slots[at] >= 0 && range.relocation.set(slots[at], line.offset + range.shift));
    await out.write(chunkBytes(lines), lines[0].offset + range.shift);
  }
}
