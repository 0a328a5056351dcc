/** Every live message of a data dir's log with its mailbox's name, as `copy` takes them from an embedded store. */
import { open, stat } from "node:fs/promises";
import { join } from "node:path";
import { LOG_FILE, type StoredMessage } from "./message-store.ts";
import { decodePayload } from "./records.ts";
import { replayLog } from "./recovery.ts";
import { readableStoreFormat } from "./store-format.ts";

type Entry = { expiresAt: number; offset: number; length: number };

/** Throws, with one line for the operator, unless `directory` holds a message log in a store format this release reads. */
export async function checkMessageLog(directory: string): Promise<void> {
  await Promise.all([readableStoreFormat(directory), stat(join(directory, LOG_FILE))]).catch((error) => {
    const problem = error.code === "ENOENT" ? `it holds no message log (${LOG_FILE}): is it a relay's data dir?` : error.message;
    throw new Error(`cannot read the data dir ${directory}: ${problem}`);
  });
}

/**
 * The messages of the log in `directory` (see {@link checkMessageLog}) unexpired at `now`, one mailbox at
 * a time, oldest first. The log is only read (damaged lines and a torn tail are skipped, the damaged ones'
 * offsets told to `onDamage` first), so no relay may be writing it.
 */
export async function* liveMessagesOf(
  directory: string,
  now: number,
  onDamage: (offsets: number[]) => void,
): AsyncGenerator<{ mailbox: string; messages: StoredMessage[] }> {
  const path = join(directory, LOG_FILE);
  const mailboxes = new Map<string, Map<string, Entry>>();
  const report = await replayLog(path, {
    add(mailbox, id, entry) {
      const entries = mailboxes.get(mailbox) ?? new Map<string, Entry>();
      mailboxes.set(mailbox, entries.set(id, entry));
    },
    removeAll(mailbox, ids) {
      const entries = mailboxes.get(mailbox);
      return ids.filter((id) => entries?.delete(id)).length;
    },
  }, now);
  const damaged = [...report.damagedOffsets, ...report.zeroedOffsets].sort((a, b) => a - b);
  if (damaged.length) onDamage(damaged);
  if (mailboxes.size === 0) return;
  const file = await open(path, "r");
  try {
    for (const [mailbox, entries] of mailboxes) {
      const messages: StoredMessage[] = [];
      for (const [id, entry] of entries) {
        const line = new Uint8Array(entry.length);
        await file.read(line, 0, entry.length, entry.offset);
        messages.push({ depositId: id, payload: decodePayload(line.subarray(0, -1)), expiresAt: entry.expiresAt });
      }
      if (messages.length) yield { mailbox, messages };
    }
  } finally {
    await file.close();
  }
}
