/** Opening the store: recover the log a crash left, keep damage aside, then hand out a MessageStore. */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { temporaryPathFor } from "../fsync.ts";
import { AppendLog } from "./append-log.ts";
import { checkpointPath, loadCheckpoint } from "./checkpoint.ts";
import { compactionPath } from "./compaction.ts";
import { MailboxIndex } from "./mailbox-index.ts";
import { LOG_FILE, MessageStore, type StoreOptions } from "./message-store.ts";
import { copyAside, replayLog } from "./recovery.ts";
import { claimStoreFormat, StoreFormatError } from "./store-format.ts";

/** The store cannot be opened (for example a read-only or unreadable data dir); the message is one line for the operator. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
}

/**
 * Opens (or creates) the store in `directory`, recovering whatever a crash left. Damaged lines are
 * copied aside with the whole log and then compacted away; when no copy can be written (a full disk)
 * they stay in the log and the store opens all the same. Throws {@link StoreOpenError} when the
 * directory or the log cannot be read or written, or when a newer release wrote the data dir.
 */
export async function openMessageStore(directory: string, options: StoreOptions): Promise<MessageStore> {
  try {
    return await openIn(directory, options);
  } catch (error) {
    if (!(error instanceof StoreFormatError) && typeof (error as { code?: unknown }).code !== "string") throw error;
    throw new StoreOpenError(`cannot open the message store in ${directory}: ${String((error as Error).message).replace(/\s+/g, " ")}`, { cause: error });
  }
}

async function openIn(directory: string, options: StoreOptions): Promise<MessageStore> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await claimStoreFormat(directory);
  const path = join(directory, LOG_FILE);
  await rm(compactionPath(path), { force: true });
  await rm(temporaryPathFor(checkpointPath(path)), { force: true });
  const now = options.clock();
  const checkpoint = await loadCheckpoint(path, now);
  if (typeof checkpoint === "string") options.log("store_checkpoint_ignored", { reason: checkpoint });
  const { index, coveredEnd } = typeof checkpoint === "object" && checkpoint ? checkpoint : { index: new MailboxIndex(), coveredEnd: 0 };
  const report = await replayLog(path, index, now, coveredEnd);
  if (report.tornBytes) options.log("store_torn_tail_cut", { bytes: report.tornBytes, offset: report.validEnd });
  if (report.zeroedOffsets.length) options.log("store_zeroed_lines_skipped", { count: report.zeroedOffsets.length, offsets: report.zeroedOffsets.slice(0, 10) });
  const damaged = report.damagedOffsets.length;
  let keptAside = false;
  if (damaged) {
    const copy = await copyAside(path, options.onStep).then((keptAs) => ({ keptAs, error: undefined }), (error) => ({ keptAs: null, error }));
    keptAside = copy.keptAs !== null;
    options.log("store_damaged_records", {
      count: damaged,
      kept_as: copy.keptAs,
      offsets: report.damagedOffsets.slice(0, 10),
      ...copy.error && { error: `no copy kept aside, the damaged lines stay in the log: ${copy.error}` },
    });
  }
  // Zeroed lines count too: a power cut mid-write or a disk that lost blocks, the log cannot tell which.
  const counters = { damagedRecords: damaged + report.zeroedOffsets.length, commits: 0, commitMilliseconds: 0 };
  const log = await AppendLog.open(path, report.validEnd, {
    durable: options.durable,
    onStep: options.onStep,
    readIfCached: options.readIfCached,
    onCommit: (milliseconds) => {
      counters.commits++;
      counters.commitMilliseconds += milliseconds;
    },
    onReleaseError: (error) => options.log("store_release_failed", { error: String(error) }),
  });
  // Close writes the index again only for records no checkpoint on disk covers (an empty log needs none).
  const checkpointedEnd = typeof checkpoint === "string" ? -1 : checkpoint ? coveredEnd : report.validEnd === 0 ? 0 : -1;
  const store = new MessageStore({ path, index, log, counters, damageInLog: damaged > 0 && !keptAside, checkpointedEnd }, options);
  // With the damage kept aside the log itself goes clean; a compaction that fails (a full disk) only leaves it as it is.
  if (keptAside) await store.compact().catch((error) => options.log("store_compaction_failed", { error: String(error) }));
  return store;
}
