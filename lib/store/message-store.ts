/** The message store: mailboxes of deposited payloads, durable on disk, expiring by TTL. */
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { concatBytes } from "../bytes.ts";
import type { ReadIfCached } from "../cached-read.ts";
import { syncDirectory } from "../fsync.ts";
import { type ThrottledLogger, throttledLogger } from "../log.ts";
import { type AppendLog, LogWriteError } from "./append-log.ts";
import { checkpointPath, writeCheckpoint } from "./checkpoint.ts";
import { CompactionAbandoned, compactLog, type CompactionReport, DamagedRecordsError } from "./compaction.ts";
import type { MailboxIndex } from "./mailbox-index.ts";
import { decodePayload, encodeDel, encodePut } from "./records.ts";
import { copyAside } from "./recovery.ts";
import { Reservations } from "./reservations.ts";

/** Why the store refused or failed an operation; "unavailable": a shared engine could not be reached in time. */
export class StoreError extends Error {
  constructor(readonly kind: "mailbox_full" | "store_full" | "io" | "unavailable", options?: ErrorOptions) {
    super(`store: ${kind}`, options);
    this.name = "StoreError";
  }
}

/** A message as handed back to its recipient. */
export interface StoredMessage {
  depositId: string;
  payload: string;
  expiresAt: number;
}

/** Options for `openMessageStore`. */
export interface StoreOptions {
  /** Live message bytes (log lines) the store may hold. */
  maxStoreBytes: number;
  /** Messages the store may hold: this bounds the index's memory (mailboxes never outnumber messages). */
  maxMessages: number;
  mailboxMaxMessages: number;
  /** fsync before a deposit is answered; off loses answered deposits on a power cut. */
  durable: boolean;
  /** Unix seconds. */
  clock(): number;
  /** Seconds between sweeps that drop expired messages (and compact if that leaves enough dead bytes); 0 = none. */
  sweepIntervalSeconds: number;
  /** Seconds after a failed compaction before one starts again in the background (60 by default). */
  compactionRetrySeconds?: number;
  /** One line per notable event. */
  log(event: string, fields: Record<string, unknown>): void;
  /** Test hook awaited at each step of a write and of a compaction; it may never return (a simulated crash). */
  onStep?(step: string): Promise<void> | void;
  /** The runtime's read from the page cache, if it has one: records in memory are then read without the I/O pool. */
  readIfCached?: ReadIfCached;
}

/** Counters for health and metrics. */
export interface StoreStats {
  messages: number;
  bytes: number;
  logBytes: number;
  damagedRecords: number;
  commits: number;
  commitMilliseconds: number;
  compactions: number;
  /** Compactions that failed (each holds the next one in the background back for a minute). */
  compactionFailures: number;
  /** Deposits and removals refused because their log write failed: for want of room (`full`), or otherwise. */
  writeFailures: { full: number; io: number };
  /** How the last log write failed (no room on the disk, or another error), while no later one has succeeded; null while writes succeed. */
  failingWrites: "full" | "io" | null;
  lastCompaction: CompactionReport | null;
}

/** What the log counts as it goes. */
interface LogCounters {
  damagedRecords: number;
  commits: number;
  commitMilliseconds: number;
}

export const LOG_FILE = "messages.jsonl";
/** A failure repeated by every deposit or compaction (a full disk) is logged once this long. */
const FAILURE_LOG_INTERVAL_SECONDS = 60;
/** After a failed compaction (a full disk), none is started in the background for this long: each would write its copy until it failed again. */
const COMPACTION_RETRY_SECONDS = 60;
/** Dead bytes that trigger a compaction, when also more than the live bytes. */
const COMPACT_DEAD_BYTES = 16 << 20;

/** Mailboxes backed by one append-only log. Create with `openMessageStore` (open-store.ts). */
export class MessageStore {
  readonly #path: string;
  readonly #index: MailboxIndex;
  readonly #log: AppendLog;
  readonly #counters: LogCounters;
  /** Damaged lines are still in the log and no copy of them is kept aside: a compaction copies the log aside first. */
  #damageInLog: boolean;
  /** The log size up to which the index needs no new checkpoint (the one on disk covers it, or the log is empty); -1 for none. */
  #checkpointedEnd: number;
  #compactions = 0;
  #compactionFailures = 0;
  /** No compaction starts in the background before this time (performance.now(), which no clock correction moves): see COMPACTION_RETRY_SECONDS. */
  #compactionRetryAt = 0;
  /** Log writes that failed, by kind. */
  readonly #writeFailures = { full: 0, io: 0 };
  /** How the last log write failed, while no later one has succeeded. */
  #failingWrites: "full" | "io" | null = null;
  #lastCompaction: CompactionReport | null = null;
  readonly #inFlight = new Reservations();
  /** `take` calls in progress per mailbox: one at a time, so no message is handed out twice. */
  readonly #taking = new Map<string, Promise<unknown>>();
  #compacting: Promise<void> | null = null;
  /** The removal of the checkpoint on disk under way, if any (see {@link #removeCheckpoint}). */
  #checkpointRemoval: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** Whether freed files' blocks are to go at once (the store is closing) rather than paced. */
  readonly #hurry = () => this.#closing !== undefined;
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  /** A full disk fails every deposit and every compaction: one line a minute for each kind of failure, with how many were left out. */
  readonly #logFailure: ThrottledLogger;

  constructor(
    parts: { path: string; index: MailboxIndex; log: AppendLog; counters: LogCounters; damageInLog: boolean; checkpointedEnd: number },
    readonly options: StoreOptions,
  ) {
    this.#path = parts.path;
    this.#index = parts.index;
    this.#log = parts.log;
    this.#counters = parts.counters;
    this.#damageInLog = parts.damageInLog;
    this.#checkpointedEnd = parts.checkpointedEnd;
    this.#logFailure = throttledLogger((event, fields = {}) => options.log(event, fields), FAILURE_LOG_INTERVAL_SECONDS, options.clock);
    if (options.sweepIntervalSeconds > 0) {
      this.#timer = setInterval(() => void this.#sweep(), options.sweepIntervalSeconds * 1000);
      (this.#timer as { unref?(): void }).unref?.();
    }
  }

  /** Stores `payload` in `mailbox` until `expiresAt`; resolves with its id (a new one, unless copied with its `id`) once it is on disk. */
  async deposit(mailbox: string, payload: string, expiresAt: number, id: string = crypto.randomUUID()): Promise<string> {
    const room = (held: number) => held + this.#inFlight.of(mailbox) < this.options.mailboxMaxMessages;
    if (!room(this.#index.size(mailbox)) && !room(this.#index.dropExpired(mailbox, this.options.clock()))) {
      throw new StoreError("mailbox_full");
    }
    const line = encodePut({ id, mb: mailbox, exp: expiresAt }, payload);
    const release = this.#inFlight.hold(mailbox, line.length);
    try {
      const fits = () => this.#index.bytes + this.#inFlight.bytes <= this.options.maxStoreBytes &&
        this.#index.count + this.#inFlight.count <= this.options.maxMessages;
      if (!fits() && (await this.#sweepExpired(), !fits())) throw new StoreError("store_full");
      await this.#append(line, (offset) => this.#index.add(mailbox, id, { expiresAt, offset, length: line.length }));
    } finally {
      release();
    }
    return id;
  }

  /**
   * Unexpired messages of `mailbox`, oldest first, left in place: at most `limit` and about `maxBytes` of
   * records. A record that fails its checks is dropped (see {@link #dropDamaged}); the others are served.
   */
  async peek(mailbox: string, limit = Infinity, maxBytes = Infinity): Promise<{ messages: StoredMessage[]; more: boolean }> {
    const { entries, more } = this.#index.head(mailbox, this.options.clock(), limit, maxBytes);
    const read = await Promise.all(entries.map(async (entry) => {
      const line = await this.#log.read(entry.offset, entry.length);
      try {
        return { depositId: entry.id, payload: decodePayload(line.subarray(0, -1)), expiresAt: entry.expiresAt };
      } catch {
        this.#dropDamaged(mailbox, entry);
        return null;
      }
    }));
    return { messages: read.filter((message) => message !== null), more };
  }

  /** Every unexpired message of `mailbox`, oldest first, removed durably; never the same one to two callers. */
  take(mailbox: string): Promise<StoredMessage[]> {
    if (this.#index.size(mailbox) === 0 && !this.#taking.has(mailbox)) return Promise.resolve([]);
    const previous = this.#taking.get(mailbox) ?? Promise.resolve();
    const taken = previous.catch(() => {}).then(async () => {
      const { messages } = await this.peek(mailbox);
      await this.remove(mailbox, messages.map((message) => message.depositId));
      return messages;
    });
    this.#taking.set(mailbox, taken);
    void taken.finally(() => this.#taking.get(mailbox) === taken && this.#taking.delete(mailbox)).catch(() => {});
    return taken;
  }

  /** Removes the named messages of `mailbox` durably; unknown ids are ignored. Resolves with how many went. */
  async remove(mailbox: string, ids: readonly string[]): Promise<number> {
    const targets = this.#index.heldAmong(mailbox, ids, this.options.clock());
    if (targets.length === 0) return 0;
    let removed = 0;
    await this.#append(concatBytes(targets.map((id) => encodeDel({ id, mb: mailbox }))), () => {
      removed = this.#index.removeAll(mailbox, targets);
    });
    this.#compactIfWorthIt();
    return removed;
  }

  /**
   * Drops expired and removed records (and damaged lines, once a copy of them is kept aside) from the
   * log now, then writes a checkpoint of the index and frees the old log's disk space. Does nothing once
   * the store is closing. Damage it meets is kept aside, and the compaction runs again without it.
   */
  compact(): Promise<void> {
    if (this.#closing) return Promise.resolve();
    this.#compacting ??= (async () => {
      try {
        const report = await this.#compactOnce();
        this.#checkpointedEnd = -1; // the checkpoint on disk is the old file's, until the one below is written
        this.#compactions++;
        this.#lastCompaction = report;
        this.options.log("store_compacted", {
          bytes_before: report.bytesBefore,
          bytes_after: report.bytesAfter,
          live_records: report.liveRecords,
          milliseconds: Math.round(report.milliseconds),
        });
        await this.#writeCheckpoint();
        // Only then the old file's blocks, paced: freeing them holds the disk's journal (see release-file.ts).
        await this.#log.releaseReplaced(this.#hurry);
      } catch (error) {
        this.#compactionFailures++;
        this.#compactionRetryAt = performance.now() + (this.options.compactionRetrySeconds ?? COMPACTION_RETRY_SECONDS) * 1000;
        throw error;
      } finally {
        this.#compacting = null;
      }
    })();
    return this.#compacting;
  }

  /** One compaction: the log copied aside first when it holds damage; again, after keeping it aside, when it meets some. */
  async #compactOnce(): Promise<CompactionReport> {
    for (;;) {
      if (this.#damageInLog) {
        const keptAs = await copyAside(this.#path, this.options.onStep);
        this.#damageInLog = false;
        this.options.log("store_damage_kept_aside", { kept_as: keptAs });
      }
      await this.#sweepExpired();
      try {
        // Damage a read finds meanwhile is kept aside with the log as it is: not swapped away uncopied.
        return await compactLog(this.#log, this.#index, { logPath: this.#path, onStep: this.options.onStep, abandonIf: () => this.#damageInLog });
      } catch (error) {
        // Damaged records count as expired: the next round sweeps them. Abandoned: a read found damage meanwhile.
        if (error instanceof DamagedRecordsError) this.#damageFound(error.offsets, "compacting");
        else if (!(error instanceof CompactionAbandoned)) throw error;
      }
    }
  }

  /** Current counts; `logBytes` includes records not yet compacted away. */
  stats(): StoreStats {
    return {
      ...this.#counters,
      messages: this.#index.count,
      bytes: this.#index.bytes,
      logBytes: this.#log.size,
      compactions: this.#compactions,
      compactionFailures: this.#compactionFailures,
      writeFailures: { ...this.#writeFailures },
      failingWrites: this.#failingWrites,
      lastCompaction: this.#lastCompaction,
    };
  }

  /**
   * Finishes pending writes and reads, writes a checkpoint of the index unless the one on disk covers
   * the log as it is (the log only grows between compactions), then closes the log.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closing ??= (async () => {
      await this.#compacting?.catch(() => {});
      await this.#log.exclusive(async () => {}); // appends queued before now are on disk
      if (this.#log.size !== this.#checkpointedEnd) await this.#writeCheckpoint();
      await this.#checkpointRemoval;
      await this.#log.close();
    })();
    await this.#closing;
  }

  /**
   * Writes a checkpoint of the index for the log as it is now (never while a compaction swaps files:
   * callers run it within a compaction or once none can start). Not while damaged lines stay in the log
   * with no copy aside: the next start must find them by a full scan. A failure is logged: start-up then
   * falls back to the older checkpoint or to a full scan.
   */
  async #writeCheckpoint(): Promise<void> {
    await this.#checkpointRemoval; // not renamed in only to be removed
    if (this.#damageInLog) return;
    const began = performance.now();
    const coveredEnd = this.#log.size;
    try {
      await writeCheckpoint(this.#path, this.#index, { coveredEnd, read: this.#log.readInto }, { hurry: this.#hurry, onStep: this.options.onStep });
      // Damage found while it was written: the checkpoint would hide it from the next start's scan.
      if (this.#damageInLog) return await this.#removeCheckpoint();
      this.#checkpointedEnd = coveredEnd;
      this.options.log("store_checkpoint_written", { messages: this.#index.count, milliseconds: Math.round(performance.now() - began) });
    } catch (error) {
      this.options.log("store_checkpoint_failed", { error: String(error) });
    }
  }

  /**
   * Drops a record that failed its checks when read: the disk changed it after start-up scanned the log,
   * or before, where a checkpoint spared start-up that scan. Its message is lost; the rest of its mailbox
   * is not held up by it. No checkpoint is written while the damage stays in the log, and the one on disk
   * is removed, so the next start scans the whole log, keeps a copy aside and compacts the damage away,
   * as for damage found at start-up (as does the next compaction, if it comes first).
   */
  #dropDamaged(mailbox: string, entry: { id: string; offset: number }): void {
    if (this.#index.removeAll(mailbox, [entry.id]) === 0) return; // dropped already, by a read at the same time
    this.#damageFound([entry.offset], "on reading");
  }

  /** Counts and logs damage found after start-up; the log is to be kept aside, and no checkpoint is to hide it from the next start. */
  #damageFound(offsets: number[], found: "on reading" | "compacting"): void {
    this.#counters.damagedRecords += offsets.length;
    this.options.log("store_damaged_records", { count: offsets.length, offsets: offsets.slice(0, 10), found });
    if (this.#damageInLog) return;
    this.#damageInLog = true;
    void this.#removeCheckpoint();
  }

  /** Removes the checkpoint on disk (durably), so that the next start reads the whole log; close and the next checkpoint wait for it. */
  #removeCheckpoint(): Promise<void> {
    this.#checkpointedEnd = -1;
    const path = checkpointPath(this.#path);
    const removal = this.#checkpointRemoval.then(() => rm(path, { force: true })).then(() => syncDirectory(dirname(path)));
    this.#checkpointRemoval = removal.catch((error) => this.options.log("store_checkpoint_failed", { error: String(error) }));
    return this.#checkpointRemoval;
  }

  async #append(bytes: Uint8Array, committed: (offset: number) => void): Promise<void> {
    try {
      await this.#log.append(bytes, committed);
      this.#failingWrites = null;
    } catch (error) {
      const full = error instanceof LogWriteError && error.full;
      this.#failingWrites = full ? "full" : "io";
      this.#writeFailures[this.#failingWrites]++;
      this.#logFailure(full ? "full" : "io", "store_write_failed", { error: String((error as Error).cause ?? error) });
      throw new StoreError(full ? "store_full" : "io", { cause: error });
    }
  }

  async #sweep(): Promise<void> {
    await this.#sweepExpired();
    this.#compactIfWorthIt();
  }

  /**
   * Drops expired messages from the index. A sweep while no message held can have expired walks
   * nothing (see MailboxIndex.sweepExpired), so a full store refusing deposits does not walk the whole
   * index for each.
   */
  #sweepExpired(): Promise<number> {
    return this.#index.sweepExpired(this.options.clock());
  }

  /** Compacts in the background once dead records outweigh both the live ones and 16 MiB, unless one failed lately. */
  #compactIfWorthIt(): void {
    if (this.#compacting || this.#closing || performance.now() < this.#compactionRetryAt) return;
    if (this.#log.size - this.#index.bytes <= Math.max(COMPACT_DEAD_BYTES, this.#index.bytes)) return;
    this.compact().catch((error) => this.#logFailure("compaction", "store_compaction_failed", { error: String(error) }));
  }
}
