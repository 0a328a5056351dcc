/** Opening the store: recover the log a crash left, keep damage aside, then hand out a MessageStore. */
import { copyFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { AppendLog } from "./append-log.ts";
import { compactionPath } from "./compaction.ts";
import { MailboxIndex } from "./mailbox-index.ts";
import { LOG_FILE, MessageStore, type StoreOptions } from "./message-store.ts";
import { replayLog } from "./recovery.ts";

/** Opens (or creates) the store in `directory`, recovering whatever a crash left. */
export async function openMessageStore(directory: string, options: StoreOptions): Promise<MessageStore> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const path = join(directory, LOG_FILE);
  await rm(compactionPath(path), { force: true });
  const index = new MailboxIndex();
  const report = await replayLog(path, index, options.clock());
  if (report.tornBytes) options.log("store_torn_tail_cut", { bytes: report.tornBytes, offset: report.validEnd });
  if (report.damagedOffsets.length) {
    const aside = `${path}.damaged-${Date.now()}`;
    await copyFile(path, aside);
    const offsets = report.damagedOffsets.slice(0, 10);
    options.log("store_damaged_records", { count: report.damagedOffsets.length, kept_as: aside, offsets });
  }
  const counters = { damagedRecords: report.damagedOffsets.length, commits: 0, commitMilliseconds: 0 };
  const log = await AppendLog.open(path, report.validEnd, {
    durable: options.durable,
    onStep: options.onStep,
    onCommit: (milliseconds) => {
      counters.commits++;
      counters.commitMilliseconds += milliseconds;
    },
    onReleaseError: (error) => options.log("store_release_failed", { error: String(error) }),
  });
  const store = new MessageStore({ path, index, log, counters }, options);
  if (report.damagedOffsets.length) await store.compact(); // the damage is kept aside; the log itself goes clean
  return store;
}

