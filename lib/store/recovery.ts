/** Start-up: rebuild the index from the log, find a torn final line and damaged lines. */
import { copyFile, open, rm } from "node:fs/promises";
import { appendTo } from "../collections.ts";
import { lineEnd, type ReadInto, readLines } from "./line-reader.ts";
import type { MailboxIndex } from "./mailbox-index.ts";
import { decodeHeader } from "./records.ts";

/** What replaying the log found. */
export interface ReplayReport {
  /** Where the last complete line ends: the log is cut here. */
  validEnd: number;
  /** Bytes of an unterminated final line (a write cut short by a crash). */
  tornBytes: number;
  /** Offsets of complete lines that are not whole records; they are skipped, never the lines around them. */
  damagedOffsets: number[];
}

/**
 * Replays the records of the log at `path` from offset `from` on into `index` (or anything that takes its
 * adds and removals); messages expired at `now` are left out.
 */
export async function replayLog(path: string, index: Pick<MailboxIndex, "add" | "removeAll">, now: number, from = 0): Promise<ReplayReport> {
  const report: ReplayReport = { validEnd: from, tornBytes: 0, damagedOffsets: [] };
  const file = await open(path, "r").catch((error) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (!file) return report;
  try {
    const { size } = await file.stat();
    const read: ReadInto = async (target, at, length, position) => (await file.read(target, at, length, position)).bytesRead;
    for await (const lines of readLines(read, from, size, 4 << 20)) {
      const deleted = new Map<string, string[]>(); // applied per chunk: one pass over each mailbox
      for (const line of lines) {
        try {
          const record = decodeHeader(line.bytes);
          if (record.k === "del") appendTo(deleted, record.mb, record.id);
          else if (record.exp > now) {
            index.add(record.mb, record.id, { expiresAt: record.exp, offset: line.offset, length: line.bytes.length + 1 });
          }
        } catch {
          report.damagedOffsets.push(line.offset);
        }
        report.validEnd = lineEnd(line);
      }
      for (const [mailbox, ids] of deleted) index.removeAll(mailbox, ids);
    }
    report.tornBytes = size - report.validEnd;
    return report;
  } finally {
    await file.close();
  }
}

/**
 * Copies the log at `path` aside (`<path>.damaged-<ms>`) so that its damaged lines can be looked at;
 * resolves with the copy's path. A copy cut short (a full disk) is removed. `onStep` is a test hook
 * awaited before copying ("damage:copy").
 */
export async function copyAside(path: string, onStep?: (step: string) => Promise<void> | void): Promise<string> {
  const aside = `${path}.damaged-${Date.now()}`;
  try {
    await onStep?.("damage:copy");
    await copyFile(path, aside);
    return aside;
  } catch (error) {
    await rm(aside, { force: true }).catch(() => {});
    throw error;
  }
}
