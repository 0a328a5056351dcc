/** Compaction: copy live records to a new file, fsync, rename over the log, fsync the directory. */
import { type FileHandle, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { syncDirectory, writeAll } from "../fsync.ts";
import type { AppendLog } from "./append-log.ts";
import { type MailboxIndex, Relocation } from "./mailbox-index.ts";
import { pause, WorkSlices } from "./work-slices.ts";

/** What one compaction did. */
export interface CompactionReport {
  bytesBefore: number;
  bytesAfter: number;
  liveRecords: number;
  milliseconds: number;
}

/** The temporary file a compaction writes; a leftover one is a crash mid-compaction and is removed on open. */
export const compactionPath = (logPath: string) => `${logPath}.compact`;

const NEWLINE = 10;
const OPEN_BRACE = 0x7b;
/** Bytes read and written at a time: larger writes stall Bun's event loop (measured: 4 MiB → 20-30 ms). */
const CHUNK_BYTES = 512 << 10;
/** What the last catch-up round, which holds the append queue, copies at most. */
const CATCH_UP_BYTES = 128 << 10;
/** Slot numbers are below this (they are 32-bit), so (offset in a chunk) × SLOT_SPAN + slot is an exact double. */
const SLOT_SPAN = 2 ** 32;
/**
 * Sync the new file about every chunk, so that no one sync holds deposits' fsyncs back for long and the
 * last one is short (2 MiB: p99 during compaction 102-121 ms against 66-100 ms, under heavy other load).
 */
const SYNC_EVERY_BYTES = 512 << 10;
/** Longest pause after a stretch of copying (see {@link CompactedFile}). */
const MAX_PAUSE_MS = 20;
/**
 * Zeros written and synced past the copy before the swap: the last catch-up round, which holds the
 * append queue, then overwrites blocks the file already has, and its sync writes data only, not the
 * file's size and block map (a journal commit: 5-10 ms under load). The log keeps them as the zeros it
 * writes ahead of its records.
 */
const ZEROS_BEFORE_SWAP = new Uint8Array(1 << 20);

/**
 * The new log file: positional writes, synced every {@link SYNC_EVERY_BYTES} so that no sync is long.
 * While deposits commit, each stretch of copying (reads, writes and the sync that ends it) is followed
 * by a pause as long as it took (at most {@link MAX_PAUSE_MS}): the copy then takes at most half of the
 * disk's and the machine's time from deposits, and at most twice as long; with no deposits, no pause,
 * nor once the append queue is held ({@link holdingAppends}).
 */
class CompactedFile {
  #unsynced = 0;
  #paced = true;
  #stretchBegan = performance.now();
  #commitsSeen: number;

  constructor(readonly file: FileHandle, readonly log: AppendLog) {
    this.#commitsSeen = log.commits;
  }

  async write(bytes: Uint8Array, position: number): Promise<void> {
    await writeAll(this.file, bytes, position);
    this.#unsynced += bytes.length;
    if (this.#unsynced <= SYNC_EVERY_BYTES) return;
    await this.sync();
    if (this.#paced && this.log.commits !== this.#commitsSeen) await pause(Math.min(MAX_PAUSE_MS, performance.now() - this.#stretchBegan));
    this.#commitsSeen = this.log.commits;
    this.#stretchBegan = performance.now();
  }

  /** From now on the append queue is held: no deposit commits, so none is to be let through by pausing. */
  holdingAppends(): void {
    this.#paced = false;
  }

  async sync(): Promise<void> {
    await this.file.datasync();
    this.#unsynced = 0;
  }

  /** Writes {@link ZEROS_BEFORE_SWAP} at `position` and syncs them; returns where they end. */
  async zeroAhead(position: number): Promise<number> {
    await writeAll(this.file, ZEROS_BEFORE_SWAP, position);
    await this.sync();
    return position + ZEROS_BEFORE_SWAP.length;
  }
}

/** Records the index points at that are not records (damage): their messages now count as expired. */
export class DamagedRecordsError extends Error {
  constructor(readonly offsets: number[]) {
    super(`${offsets.length} records are not where the index says, from offset ${offsets[0]}`);
    this.name = "DamagedRecordsError";
  }
}

/** The compaction was given up just before its swap, as `abandonIf` asked: the log is as it was. */
export class CompactionAbandoned extends Error {
  override name = "CompactionAbandoned";
}

/**
 * Rewrites the log at `logPath` to hold only the messages `index` points at (sweep expired ones from
 * the index first). Deposits and reads go on meanwhile: the records the index points at are copied a
 * chunk of the old file at a time (each step of synchronous work a few ms at most), what was appended
 * since is copied in catch-up rounds, and only the last few records, the rename and the swap hold the
 * append queue. Fails with {@link DamagedRecordsError}, leaving the log as it is, when records are not
 * where the index says. `onStep` is a test hook.
 */
export async function compactLog(
  log: AppendLog,
  index: MailboxIndex,
  options: {
    logPath: string;
    onStep?(step: string): Promise<void> | void;
    /** Asked just before the swap: true gives the compaction up ({@link CompactionAbandoned}), the log as it was. */
    abandonIf?(): boolean;
  },
): Promise<CompactionReport> {
  const began = performance.now();
  const { logPath, onStep = () => {} } = options;
  const tempPath = compactionPath(logPath);
  const out = new CompactedFile(await open(tempPath, "w+", 0o600), log);
  let appendFile: FileHandle | undefined;
  try {
    // How the log will append to the new file once it is swapped in: opened now (it follows the rename),
    // not in the swap, which holds the append queue.
    const appendTo = appendFile = await log.openForAppends(tempPath);
    // The snapshot: what is appended from here on is copied as it is, and the slots it is given are noted.
    const snapshotEnd = log.size;
    index.trackAdditions(true);
    const relocation = new Relocation();
    const damaged: number[] = [];
    const size = await copyLive(log, index, out, { end: snapshotEnd, relocation, damaged });
    if (damaged.length) throw new DamagedRecordsError(damaged);
    // Records appended meanwhile are copied as they are, in catch-up rounds, shifted by the bytes dropped.
    let copiedEnd = snapshotEnd;
    await onStep("compact:snapshot-copied");
    const shift = size - snapshotEnd;
    const catchUp = async (to: number) => {
      await copyAppended(log, out, { from: copiedEnd, to, shift });
      index.relocateAdditions(relocation, shift);
      copiedEnd = to;
    };
    while (log.size - copiedEnd > CATCH_UP_BYTES) await catchUp(log.size);
    await onStep("compact:copied");
    const zerosEnd = await out.zeroAhead(copiedEnd + shift);
    await onStep("compact:synced");
    return await log.exclusive(async () => {
      out.holdingAppends();
      await catchUp(log.size);
      await out.sync();
      await onStep("compact:tail-synced");
      if (options.abandonIf?.()) throw new CompactionAbandoned("given up before the swap");
      await rename(tempPath, logPath);
      await onStep("compact:renamed");
      // Past the rename the new file is the log: finish the swap even if the directory fsync fails. The
      // log then syncs the directory before it commits again: until the rename is on disk, a power cut
      // could bring the old file back under the name, without what is appended to the new one.
      const directory = dirname(logPath);
      const directorySynced = await syncDirectory(directory).then(() => onStep("compact:dir-synced")).then(() => true, () => false);
      // Synchronously, so no read sees new offsets with the old file: relocate, then swap.
      index.relocate(relocation);
      log.replaceWith(appendTo, copiedEnd + shift, zerosEnd, directorySynced ? null : directory);
      await out.file.close().catch(() => {});
      return { bytesBefore: copiedEnd, bytesAfter: log.size, liveRecords: index.count, milliseconds: performance.now() - began };
    });
  } catch (error) {
    await out.file.close().catch(() => {});
    await appendFile?.close().catch(() => {});
    await rm(tempPath, { force: true });
    throw error;
  } finally {
    index.trackAdditions(false);
  }
}

/**
 * The indexed records that start before `end`, grouped by the {@link CHUNK_BYTES} of the log they start
 * in: per chunk, each record as (offset in the chunk) × {@link SLOT_SPAN} + slot, so that sorting the
 * numbers sorts the records by offset. One walk over the index, not over the log: nothing is parsed.
 * Yields to other work between slices (see {@link WorkSlices}).
 */
async function indexedRecordsByChunk(index: MailboxIndex, end: number): Promise<number[][]> {
  const byChunk: number[][] = [];
  const add = (slot: number) => {
    const offset = index.offsetOf(slot);
    if (offset >= end) return; // appended since the snapshot: caught up later
    const chunk = Math.floor(offset / CHUNK_BYTES);
    (byChunk[chunk] ??= []).push((offset - chunk * CHUNK_BYTES) * SLOT_SPAN + slot);
  };
  const slices = new WorkSlices();
  for (let number = 0; number < index.mailboxNumbers; number++) {
    index.forEachSlot(number, add);
    if (number % 256 === 255) await slices.yieldIfDue();
  }
  return byChunk;
}

/** Reads [from, to) of the log into `target` from its start; throws when the log ends before `to`. */
async function readFully(log: AppendLog, target: Uint8Array, from: number, to: number): Promise<void> {
  for (let at = 0; at < to - from;) {
    const bytesRead = await log.readInto(target, at, to - from - at, from + at);
    if (bytesRead === 0) throw new Error(`the log ends before ${to}`);
    at += bytesRead;
  }
}

/**
 * Copies the records the index points at in [0, end) to `out`, in log order, a chunk of the log at a
 * time: the index says where each record lies and how long it is, so the old file is only read and
 * copied (no line is split or decoded), and no synchronous step lasts more than a chunk's copy.
 */
async function copyLive(
  log: AppendLog,
  index: MailboxIndex,
  out: CompactedFile,
  walk: { end: number; relocation: Relocation; damaged: number[] },
): Promise<number> {
  const byChunk = await indexedRecordsByChunk(index, walk.end);
  let input = new Uint8Array(CHUNK_BYTES * 2);
  let output = new Uint8Array(CHUNK_BYTES * 2);
  let size = 0;
  for (let chunk = 0; chunk < byChunk.length; chunk++) {
    if (!byChunk[chunk]) continue;
    const chunkStart = chunk * CHUNK_BYTES;
    const records = Float64Array.from(byChunk[chunk]).sort();
    const offsetOf = (record: number) => chunkStart + Math.floor(record / SLOT_SPAN);
    // A slot freed and reused since the walk holds a record appended since: caught up later.
    const current = (record: number) => index.offsetOf(record % SLOT_SPAN) === offsetOf(record);
    const kept = records.filter(current);
    if (kept.length === 0) continue;
    const from = offsetOf(kept[0]);
    const to = offsetOf(kept[kept.length - 1]) + index.lengthOf(kept[kept.length - 1] % SLOT_SPAN);
    if (input.length < to - from) input = new Uint8Array(to - from);
    if (output.length < to - from) output = new Uint8Array(to - from);
    await readFully(log, input, from, to);
    let used = 0;
    for (const record of kept) {
      if (!current(record)) continue; // removed and its slot reused while the chunk was read
      const slot = record % SLOT_SPAN;
      const at = offsetOf(record) - from;
      const length = index.lengthOf(slot);
      if (input[at] !== OPEN_BRACE || input[at + length - 1] !== NEWLINE) {
        // Not a record where the index says: damage. Never copied; its message counts as expired from now on.
        index.expireSlot(slot);
        walk.damaged.push(from + at);
        continue;
      }
      output.set(input.subarray(at, at + length), used);
      walk.relocation.set(slot, size + used);
      used += length;
    }
    await out.write(output.subarray(0, used), size);
    size += used;
  }
  return size;
}

/**
 * Copies [from, to) of the log verbatim to `out`, `shift` bytes earlier than in the log, a chunk at a time:
 * records appended since the snapshot, which move by `shift` all alike (see `MailboxIndex.relocateAdditions`).
 */
async function copyAppended(log: AppendLog, out: CompactedFile, range: { from: number; to: number; shift: number }): Promise<void> {
  const buffer = new Uint8Array(Math.min(CHUNK_BYTES, range.to - range.from));
  for (let at = range.from; at < range.to; at += buffer.length) {
    const piece = buffer.subarray(0, Math.min(buffer.length, range.to - at));
    await readFully(log, piece, at, at + piece.length);
    await out.write(piece, at + range.shift);
  }
}
