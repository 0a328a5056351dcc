/** The log file: appends through one queue with group commit, positional reads, and an atomic swap. */
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname } from "node:path";
import { concatBytes } from "../bytes.ts";
import type { ReadIfCached } from "../cached-read.ts";
import { syncDirectory, writeAll } from "../fsync.ts";
import { releaseFile } from "./release-file.ts";

/** A failed write. `full` when the disk (or its quota) has no room. */
export class LogWriteError extends Error {
  constructor(readonly full: boolean, options: ErrorOptions) {
    super(full ? "no space left for the log" : "log write failed", options);
    this.name = "LogWriteError";
  }
}

interface PendingAppend {
  bytes: Uint8Array;
  committed(offset: number): void;
  resolve(): void;
  reject(error: Error): void;
}

/** A file handle shared by reads; `whenIdle` is what to do with it once the last read is done. */
interface SharedHandle {
  file: FileHandle;
  readers: number;
  whenIdle?: () => void;
}

/**
 * Zeros kept written (and, the file being synced, on disk) past the records when durable: a commit
 * then overwrites blocks the file already has, so its synced write changes neither the file's size nor
 * its block map, which on ext4 costs a journal commit per write (measured: a commit 20-30% faster, see
 * docs/performance.md). Cut off when the log closes; after a crash, start-up finds them as an unused tail.
 */
const ZEROED_AHEAD_BYTES = 4 << 20;
/** Zeros are written a piece at a time, outside the append queue: a commit waits for one only when it would reach into it. */
const ZERO_PIECE = new Uint8Array(256 << 10);

/** Options for {@link AppendLog}. */
export interface AppendLogOptions {
  /**
   * Every append on disk before it resolves. Off only for benchmarks and throwaway relays: a power cut
   * loses answered deposits. The file is then opened with O_DSYNC (see {@link AppendLog.openForAppends}).
   */
  durable: boolean;
  /** Called after each committed batch with how long its (synced) write took. */
  onCommit?(milliseconds: number): void;
  /** Called when freeing a replaced file (after a compaction) fails. */
  onReleaseError(error: unknown): void;
  /** Test hook awaited before and after each write ("append:writing", "append:written"); it may never return. */
  onStep?(step: string): Promise<void> | void;
  /** Where the runtime has it, how a record is read when its bytes are in the page cache (see {@link AppendLog.read}). */
  readIfCached?: ReadIfCached;
}

/** One append-only file. Every append and every exclusive section runs through one queue. */
export class AppendLog {
  #handle: SharedHandle;
  #size: number;
  #pending: PendingAppend[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #flushScheduled = false;
  #dirtyTail = false;
  /** Files replaced by a compaction and not yet released. */
  #replaced: SharedHandle[] = [];
  #commits = 0;
  /** Where the current file ends: the records, then (when durable) zeros written ahead of them. */
  #fileEnd: number;
  /** The piece of zeros being written, if any. */
  #zeroing: Promise<void> | undefined;
  /** A piece failed (a full disk): no more zeros until a compaction swaps a new file in; commits extend the file as they go. */
  #zeroingStopped = false;
  /** The directory of a file renamed in whose entry may not be on disk yet (see {@link replaceWith}); null when it is. */
  #unsyncedDirectory: string | null = null;
  /** A release of replaced files held back by that directory (its `hurry`), done once it is synced. */
  #releaseOnceSynced: (() => boolean) | undefined;
  #closing = false;

  private constructor(file: FileHandle, size: number, readonly options: AppendLogOptions) {
    this.#handle = { file, readers: 0 };
    this.#size = size;
    this.#fileEnd = size;
    this.#zeroAhead();
  }

  /**
   * Opens (creating if need be) the file at `path`; `size` is where its valid records end. An empty log
   * (perhaps just created) has its directory synced when durable: a new file is not on disk until its name is.
   */
  static async open(path: string, size: number, options: AppendLogOptions): Promise<AppendLog> {
    await (await open(path, "a", 0o600)).close();
    if (options.durable && size === 0) await syncDirectory(dirname(path));
    const file = await openForAppends(path, options.durable);
    await file.truncate(size);
    return new AppendLog(file, size, options);
  }

  /** Opens the existing file at `path` as this log opens its own, for {@link replaceWith}. */
  openForAppends(path: string): Promise<FileHandle> {
    return openForAppends(path, this.options.durable);
  }

  /** Bytes of committed records (the file may hold zeros past them: see {@link ZEROED_AHEAD_BYTES}). */
  get size(): number {
    return this.#size;
  }

  /** Batches committed so far. */
  get commits(): number {
    return this.#commits;
  }

  /**
   * Appends record lines; once they are on disk, calls `committed` with their offset, in the same
   * synchronous step that grows `size` (so a compaction snapshot never sees one without the other).
   */
  append(bytes: Uint8Array, committed: (offset: number) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ bytes, committed, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        this.exclusive(() => this.#flush());
      }
    });
  }

  /** Runs `task` with no append in progress; appends queue behind it. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => {});
    return result;
  }

  /**
   * Reads `length` bytes at `offset` of the current file (a record): at once when all are in the page
   * cache and the runtime can tell (`readIfCached`), else through the runtime's I/O pool, so that a
   * read from a slow disk never holds the event loop.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const buffer = new Uint8Array(length);
    const cached = this.options.readIfCached?.(this.#handle.file.fd, buffer, 0, length, offset);
    const bytesRead = cached === length ? length : await this.readInto(buffer, 0, length, offset);
    if (bytesRead !== length) throw new Error(`short read at ${offset}: ${bytesRead} of ${length}`);
    return buffer;
  }

  /** Reads up to `length` bytes at `position` of the current file into `target` at `at`. */
  readInto = async (target: Uint8Array, at: number, length: number, position: number): Promise<number> => {
    const handle = this.#handle;
    handle.readers++;
    try {
      return (await handle.file.read(target, at, length, position)).bytesRead;
    } finally {
      handle.readers--;
      if (handle.readers === 0) handle.whenIdle?.();
    }
  };

  /**
   * Within `exclusive`: switch to an already renamed-in file of `size` bytes of records, opened by
   * {@link openForAppends}, with zeros written ahead (on disk) up to `zerosEnd`, if that is past the records.
   * `unsyncedDirectory`: the directory whose fsync after the rename failed; when durable, it is synced
   * before the next commit, which fails (and the one after tries again) as long as it cannot be.
   * The old file stays open until {@link releaseReplaced} (or {@link close}) frees it.
   */
  replaceWith(file: FileHandle, size: number, zerosEnd: number, unsyncedDirectory: string | null = null): void {
    this.#unsyncedDirectory = this.options.durable ? unsyncedDirectory : null; // without fsyncs, nothing waits for the disk
    this.#replaced.push(this.#handle);
    this.#handle = { file, readers: 0 };
    this.#size = size;
    this.#fileEnd = Math.max(size, zerosEnd);
    this.#zeroingStopped = false; // a compaction has freed space
    this.#zeroAhead();
  }

  /**
   * Frees the files replaced so far once no read uses them, a slice at a time with pauses until `hurry`
   * says otherwise (see release-file.ts); first syncs the directory of a rename not yet on disk, and
   * frees nothing when that fails. A failure goes to `onReleaseError`.
   */
  async releaseReplaced(hurry?: () => boolean): Promise<void> {
    // Not while the rename that replaced them may not be on disk: a power cut could bring one back as the log.
    try {
      await this.#syncRenamedDirectory();
    } catch (error) {
      this.#releaseOnceSynced = hurry ?? (() => false); // by the commit whose sync succeeds
      return this.options.onReleaseError(error);
    }
    const replaced = this.#replaced.splice(0);
    await Promise.all(replaced.map((old) => afterReads(old, () => releaseFile(old.file, hurry)).catch(this.options.onReleaseError)));
  }

  /** Waits for queued appends and running reads, frees replaced files, cuts the zeros off, then closes the file. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#zeroing;
    await this.releaseReplaced(() => true);
    await this.exclusive(() =>
      afterReads(this.#handle, async () => {
        if (this.#fileEnd > this.#size) await this.#cutAt(this.#size).catch(() => {}); // else found as an unused tail
        await this.#handle.file.close();
      })
    );
  }

  /**
   * Writes a piece of zeros past the file's end while fewer than {@link ZEROED_AHEAD_BYTES} are there, one
   * piece after another. Stops on a failure (a full disk) until a compaction: commits then extend the file as they go.
   */
  #zeroAhead(): void {
    if (!this.options.durable || this.#zeroing || this.#zeroingStopped || this.#closing) return;
    if (this.#fileEnd - this.#size >= ZEROED_AHEAD_BYTES) return;
    const handle = this.#handle;
    const at = this.#fileEnd;
    this.#zeroing = writeAll(handle.file, ZERO_PIECE, at).then(
      () => {
        this.#zeroing = undefined;
        if (this.#handle !== handle || this.#fileEnd !== at) return; // swapped or cut meanwhile: these zeros are not counted on
        this.#fileEnd = at + ZERO_PIECE.length;
        this.#zeroAhead();
      },
      () => {
        this.#zeroing = undefined;
        if (this.#handle === handle) this.#zeroingStopped = true; // not for a replaced file closed under it
      },
    );
  }

  /** Syncs the directory of a rename whose sync failed (see {@link replaceWith}), if any; throws while it fails. */
  async #syncRenamedDirectory(): Promise<void> {
    if (this.#unsyncedDirectory === null) return;
    await this.options.onStep?.("append:directory-syncing");
    await syncDirectory(this.#unsyncedDirectory);
    this.#unsyncedDirectory = null;
    const hurry = this.#releaseOnceSynced;
    this.#releaseOnceSynced = undefined;
    if (hurry) void this.releaseReplaced(hurry);
  }

  /** Truncates the file at `offset`, zeros written ahead included. */
  async #cutAt(offset: number): Promise<void> {
    await this.#handle.file.truncate(offset);
    this.#fileEnd = offset;
  }

  async #flush(): Promise<void> {
    // A turn of the event loop first: the requests whose bodies have arrived by then join this batch. Started
    // at once, a commit under load carried what came in while the last one was on disk (17 deposits at 64
    // connections, each commit a synced write's CPU) and the rest waited for the next.
    await new Promise((resolve) => setImmediate(resolve));
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    const buffer = concatBytes(batch.map((item) => item.bytes));
    const start = this.#size;
    const began = performance.now();
    try {
      const file = this.#handle.file;
      if (this.#dirtyTail) await this.#cutAt(start); // what a failed write left behind
      await this.#syncRenamedDirectory();
      // Where this batch would reach past the zeros, a piece being written there goes first (they must not overlap).
      while (start + buffer.length > this.#fileEnd && this.#zeroing) await this.#zeroing;
      this.#dirtyTail = true;
      await this.options.onStep?.("append:writing");
      await writeAll(file, buffer, start); // on disk once written when durable (O_DSYNC)
      this.#dirtyTail = false;
      await this.options.onStep?.("append:written");
    } catch (cause) {
      const code = (cause as { code?: string }).code;
      const error = new LogWriteError(code === "ENOSPC" || code === "EDQUOT", { cause });
      await this.#cutAt(start).then(() => (this.#dirtyTail = false), () => {});
      for (const item of batch) item.reject(error);
      return;
    }
    this.#size = start + buffer.length;
    this.#fileEnd = Math.max(this.#fileEnd, this.#size);
    this.#zeroAhead();
    this.#commits++;
    this.options.onCommit?.(performance.now() - began);
    let offset = start;
    for (const item of batch) {
      item.committed(offset);
      offset += item.bytes.length;
    }
    for (const item of batch) item.resolve();
  }
}

/**
 * The log file opened for reads and positional appends. When `durable`, with O_DSYNC: each write returns
 * once its data (and the size that makes it readable) is on disk, as a write then fdatasync would, in one
 * job of the runtime's I/O pool instead of two with a turn of the event loop between them, where requests
 * being parsed would hold the commit back. With O_NOATIME where the platform has it: a read never updates
 * the file's access time (under relatime, the first read after each commit would), a journalled inode
 * update that can wait for the disk, on the event loop for a read from the page cache (`readIfCached`).
 */
async function openForAppends(path: string, durable: boolean): Promise<FileHandle> {
  // Never silently without it: O_RDWR | undefined would open the file unsynced.
  if (durable && constants.O_DSYNC === undefined) throw new Error("this platform has no O_DSYNC: durable appends need it");
  const flags = constants.O_RDWR | (durable ? constants.O_DSYNC : 0);
  if (constants.O_NOATIME === undefined) return await open(path, flags);
  // O_NOATIME is only for the file's owner (or root): a log someone else owns is opened without it.
  return await open(path, flags | constants.O_NOATIME).catch((error) => {
    if ((error as { code?: string }).code !== "EPERM") throw error;
    return open(path, flags);
  });
}

/** Runs `action` on `handle` now if no read uses it, else once the last read is done. */
function afterReads(handle: SharedHandle, action: () => Promise<void>): Promise<void> {
  if (handle.readers === 0) return action();
  return new Promise((resolve, reject) => {
    handle.whenIdle = () => void action().then(resolve, reject);
  });
}
