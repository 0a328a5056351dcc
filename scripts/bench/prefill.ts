/** Fills a data dir's log directly in the store's record format, so a relay starts on N messages at once. */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, open, stat, truncate } from "node:fs/promises";
import { join } from "node:path";
import { LOG_FILE } from "../../lib/store/message-store.ts";
import { concatBytes } from "../../lib/bytes.ts";
import { writeAll } from "../../lib/fsync.ts";
import { encodeDel, encodePut } from "../../lib/store/records.ts";

/** What to write. */
export interface PrefillPlan {
  /** Messages left live, spread round-robin over `mailboxes`. */
  live: number;
  mailboxes: string[];
  /** Extra messages written and then deleted (dead bytes for compaction), interleaved with the live ones. */
  dead?: number;
  /** Each message's payload (a HiveMessage JSON string). */
  payload: string;
}

const FLUSH_BYTES = 16 << 20;


/** `count` synthetic mailbox ids (64 hex, like SHA-256 of a key). */
export function syntheticMailboxes(count: number): string[] {
  return Array.from({ length: count }, (_, i) => createHash("sha256").update(`bench-mailbox-${i}`).digest("hex"));
}

/** Writes the log of `dataDir` per `plan` (replacing it); resolves with its size in bytes. */
export async function prefillLog(dataDir: string, plan: PrefillPlan): Promise<number> {
  await mkdir(dataDir, { recursive: true });
  const file = await open(logPath(dataDir), "w");
  const exp = Math.floor(Date.now() / 1000) + 7 * 86400;
  const dead = plan.dead ?? 0;
  const total = plan.live + dead;
  const deadIds: { id: string; mb: string }[] = [];
  let chunks: Uint8Array[] = [];
  let pending = 0;
  let size = 0;
  const add = async (line: Uint8Array) => {
    chunks.push(line);
    pending += line.length;
    if (pending >= FLUSH_BYTES) await flush();
  };
  const flush = async () => {
    const buffer = concatBytes(chunks);
    await writeAll(file, buffer, size);
    size += buffer.length;
    chunks = [];
    pending = 0;
  };
  try {
    for (let i = 0; i < total; i++) {
      const isDead = dead > 0 && Math.floor((i + 1) * dead / total) > Math.floor(i * dead / total);
      const mb = plan.mailboxes[i % plan.mailboxes.length];
      const id = randomUUID();
      if (isDead) deadIds.push({ id, mb });
      await add(encodePut({ id, mb, exp }, plan.payload));
    }
    for (const record of deadIds) await add(encodeDel(record));
    await flush();
    await file.datasync();
  } finally {
    await file.close();
  }
  return size;
}

/** The log file of a data dir. */
function logPath(dataDir: string): string {
  return join(dataDir, LOG_FILE);
}

/** Cuts the log back to `size` bytes (what the prefill wrote), undoing a run's deposits. */
export async function resetLog(dataDir: string, size: number): Promise<void> {
  if (size === 0) {
    await open(logPath(dataDir), "w").then((file) => file.close());
    return;
  }
  if ((await stat(logPath(dataDir))).size !== size) await truncate(logPath(dataDir), size);
}
