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
  /**
   * Bytes of an unterminated final line (a write cut short by a crash). Not zeros alone: those are what
   * the log writes ahead of its records (append-log.ts), found after a crash and cut without a word.
   */
  tornBytes: number;
  /** Offsets of complete lines that are not whole records; they are skipped, never the lines around them. */
  damagedOffsets: number[];
  /**
   * Offsets of complete lines holding zero bytes, which no record has: a write cut short by a power cut
   * over zeros the log wrote ahead (its blocks reach the disk in any order), or blocks the disk lost.
   * Skipped like damage, but there is nothing in them to keep aside.
   */
  zeroedOffsets: number[];
}

/**
 * Replays the records of the log at `path` from offset `from` on into `index` (or anything that takes its
 * adds and removals); messages expired at `now` are left out.
 */
export async function replayLog(path: string, index: Pick<MailboxIndex, "add" | "removeAll">, now: number, from = 0): Promise<ReplayReport> {
  const report: ReplayReport = { validEnd: from, tornBytes: 0, damagedOffsets: [], zeroedOffsets: [] };
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
          (line.bytes.includes(0) ? report.zeroedOffsets : report.damagedOffsets).push(line.offset);
        }
        report.validEnd = lineEnd(line);
      }
      for (const [mailbox, ids] of deleted) index.removeAll(mailbox, ids);
    }
    if (!await onlyZeros(read, report.validEnd, size)) report.tornBytes = size - report.validEnd;
    return report;
  } finally {
    await file.close();
  }
}

/** Whether [from, to) of the file holds only zero bytes (read a MiB at a time, stopping at the first other). */
async function onlyZeros(read: ReadInto, from: number, to: number): Promise<boolean> {
  const buffer = new Uint8Array(Math.min(1 << 20, to - from));
  for (let position = from; position < to;) {
    const bytesRead = await read(buffer, 0, Math.min(buffer.length, to - position), position);
    if (bytesRead === 0) return true; // the file is shorter than it was said to be
    if (buffer.subarray(0, bytesRead).some((byte) => byte !== 0)) return false;
    position += bytesRead;
  }
  return true;
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
